#!/usr/bin/env bash
# Builds the tiny Linux guest the libvirt tests boot under QEMU TCG.
#
#   scripts/guest-image.sh IMAGEDIR
#
# Writes, into IMAGEDIR:
#   tiny-linux.qcow2          a 64 MiB empty qcow2 root disk (each VM boots from
#                             its own copy-on-write overlay of it)
#   tiny-linux.qcow2.vmlinuz  Debian's cloud kernel (linux-image-*-cloud-amd64)
#   tiny-linux.qcow2.initrd   a busybox-static initramfs
#   empty.qcow2               a 16 MiB empty qcow2 with no kernel: the domain
#                             runs but no OS answers (fast lifecycle tests)
#
# How the guest boots: the libvirt backend sees the .vmlinuz/.initrd files
# beside a base image and uses direct kernel boot (<kernel>/<initrd> in the
# domain), with the qcow2 overlay as vda. The initramfs /init mounts /proc,
# /sys and /dev, loads the virtio and ACPI button modules, sets the hostname
# given on the kernel command line, brings eth0 up with udhcpc, prints
# "occicdmi-guest: ready" on the serial console, and powers off when the ACPI
# power button is pressed (so graceful stop, ACPI reboot and PCI hot-unplug
# meet a guest that answers).
#
# The linkage's in-guest check (spec-tests/linkage TestGuestSeesTheCDMIDisk):
# at boot, every other virtio disk (vdb..vdz) whose first line is
# "OCCICDMI-CHECK <token>" gets, at byte 1024, the line
# "OCCICDMI-READ <token> <sha256 of its bytes 4096-69631>", written with
# fsync, so a client of the volume (CDMI) sees the guest read what it
# wrote and reads back what the guest wrote.
#
# Needs: apt-get (downloads, never installs, the kernel and busybox-static),
# dpkg-deb, qemu-img. Rebuilding is skipped when the files exist.
set -euo pipefail
out="${1:?usage: $0 IMAGEDIR}"
mkdir -p "$out"
# The stamp is this script's checksum: a changed guest is rebuilt.
stamp="$(sha256sum "$0" | cut -d' ' -f1)"
if [ -s "$out/tiny-linux.qcow2.initrd" ] && [ -s "$out/tiny-linux.qcow2.vmlinuz" ] && [ -s "$out/tiny-linux.qcow2" ] && [ -s "$out/empty.qcow2" ] &&
	[ "$(cat "$out/tiny-linux.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "guest-image: $out already has the images" >&2
	exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# The cloud kernel is small and has the virtio drivers as modules.
kpkg="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')"
[ -n "$kpkg" ] || { echo "guest-image: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
apt-get download "$kpkg" busybox-static >/dev/null
dpkg-deb -x "$kpkg"_*.deb k
dpkg-deb -x busybox-static_*.deb bb
kver="$(ls k/lib/modules)"
kmods="k/lib/modules/$kver/kernel"

root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,lib/modules,usr/share/udhcpc}
cp bb/bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

# Modules in load order: each after what it depends on (read from the
# module's own .modinfo "depends=" field; no depmod needed on the host).
declare -A seen=()
order=()
modpath() { find "$kmods" -name "$1.ko" | head -n1; }
add_mod() {
	local name="$1" f deps d
	name="${name//-/_}"
	[ -n "${seen[$name]:-}" ] && return
	seen[$name]=1
	f="$(modpath "$name")"
	if [ -z "$f" ]; then f="$(modpath "${name//_/-}")"; fi
	[ -n "$f" ] || return 0 # built into the kernel
	deps="$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -n1)"
	for d in ${deps//,/ }; do add_mod "$d"; done
	cp "$f" "$root/lib/modules/"
	order+=("$(basename "$f")")
}
for m in virtio_pci virtio_blk virtio_net button evdev; do add_mod "$m"; done
printf '%s\n' "${order[@]}" >"$root/lib/modules/order"

cat >"$root/usr/share/udhcpc/default.script" <<'S'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
	echo "occicdmi-guest: $interface has $ip" >/dev/console
	;;
esac
S
chmod +x "$root/usr/share/udhcpc/default.script"

cat >"$root/init" <<'S'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Twice: a module whose dependency failed to load on the first pass loads on the second.
for pass in 1 2; do for m in $(cat /lib/modules/order); do insmod /lib/modules/$m 2>/dev/null; done; done
h=$(sed -n 's/.*hostname=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$h" ] && hostname "$h"
ip link set lo up
# Power off on the ACPI power button: wait for any event on its input device.
for d in /sys/class/input/event*; do
	if grep -q "Power Button" "$d/device/name" 2>/dev/null; then
		(dd if=/dev/input/$(basename "$d") of=/dev/null bs=24 count=1 2>/dev/null
		 echo "occicdmi-guest: power button, powering off"; sync; poweroff -f) &
	fi
done
# The linkage's in-guest check (see the top of guest-image.sh).
for b in /sys/block/vd[b-z]; do
	[ -e "$b" ] || continue
	d=/dev/$(basename "$b")
	for i in 1 2 3 4 5; do [ -b "$d" ] && break; sleep 1; done # devtmpfs makes the node soon after the probe
	line=$(dd if="$d" bs=512 count=1 2>/dev/null | head -n1)
	case "$line" in "OCCICDMI-CHECK "*) ;; *) continue ;; esac
	token=${line#OCCICDMI-CHECK }
	sum=$(dd if="$d" bs=4096 skip=1 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
	printf 'OCCICDMI-READ %s %s\n' "$token" "$sum" | dd of="$d" bs=512 seek=2 conv=notrunc,fsync 2>/dev/null
	echo "occicdmi-guest: $(basename "$d") checked ($token)"
done
for n in /sys/class/net/eth*; do
	[ -e "$n" ] && ip link set "$(basename "$n")" up && udhcpc -b -t 10 -i "$(basename "$n")" -s /usr/share/udhcpc/default.script >/dev/console 2>&1 &
done
echo "occicdmi-guest: ready ($(hostname))"
while true; do sleep 3600; done
S
chmod +x "$root/init"

(cd "$root" && find . | "$work/bb/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$out/tiny-linux.qcow2.initrd.tmp"
cp "k/boot/vmlinuz-$kver" "$out/tiny-linux.qcow2.vmlinuz.tmp"
qemu-img create -q -f qcow2 "$out/tiny-linux.qcow2.tmp" 64M
qemu-img create -q -f qcow2 "$out/empty.qcow2.tmp" 16M
for f in tiny-linux.qcow2.initrd tiny-linux.qcow2.vmlinuz tiny-linux.qcow2 empty.qcow2; do
	chmod 0644 "$out/$f.tmp"
	mv "$out/$f.tmp" "$out/$f"
done
echo "$stamp" >"$out/tiny-linux.stamp"
echo "guest-image: built $out/tiny-linux.qcow2 (kernel $kver, modules: ${order[*]})" >&2
