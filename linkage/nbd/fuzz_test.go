package nbd

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// fuzzConn feeds in to one server connection over net.Pipe and checks that
// the server neither panics (a panic in its goroutines kills the fuzz
// process) nor touches either device outside its bounds, nor writes to the
// read-only one.
func fuzzConn(t *testing.T, in []byte) {
	s := NewServer(Options{MaxRequest: 64 << 10, HandshakeTimeout: 10 * time.Second, Logger: discardLogger()})
	dev := newMem(256 << 10)
	ro := newMem(64 << 10)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("ro", ro, true); err != nil {
		t.Fatal(err)
	}
	cli, srv := net.Pipe()
	if !s.serveConn(srv, false) {
		t.Fatal("server closed")
	}
	drained := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, cli)
		close(drained)
	}()
	_, _ = cli.Write(in) // fails early once the server hangs up
	_ = cli.Close()
	<-drained
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := dev.outside.Load() + ro.outside.Load(); n != 0 {
		t.Fatalf("%d accesses outside a device", n)
	}
	if !bytes.Equal(ro.bytes(), make([]byte, 64<<10)) {
		t.Fatal("the read-only export was written")
	}
}

// Wire builders for the seeds.

func optBytes(opt uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, magicOption)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

func reqBytes(typ, flags uint16, off uint64, length uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magicRequest)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, 7)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, payload...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var clientFlagsBytes = binary.BigEndian.AppendUint32(nil, clientFlagFixedNewstyle|clientFlagNoZeroes)

// FuzzHandshake: arbitrary bytes from the first client byte on.
func FuzzHandshake(f *testing.F) {
	f.Add(cat(clientFlagsBytes, optBytes(optGo, infoData("vol", infoBlockSize)), reqBytes(cmdRead, 0, 0, 512, nil)))
	f.Add(cat(clientFlagsBytes, optBytes(optList, nil), optBytes(optInfo, infoData("ro", infoName)), optBytes(optAbort, nil)))
	f.Add(cat(binary.BigEndian.AppendUint32(nil, clientFlagFixedNewstyle), optBytes(optExportName, []byte("ro")), reqBytes(cmdWrite, 0, 0, 1, []byte{1})))
	f.Add(cat(clientFlagsBytes, optBytes(optStartTLS, nil), optBytes(optStructuredReply, nil), optBytes(99, []byte("x"))))
	f.Add(cat(clientFlagsBytes, optBytes(optInfo, []byte{0xff, 0xff, 0xff, 0xf0, 0, 0})))
	f.Add([]byte{0, 0, 0, 1, 0x49, 0x48, 0x41, 0x56})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzConn(t, in) })
}

// FuzzRequests: a valid handshake to the writable export, then arbitrary
// transmission-phase bytes.
func FuzzRequests(f *testing.F) {
	f.Add(cat(reqBytes(cmdWrite, cmdFlagFUA, 4096, 4, []byte("abcd")), reqBytes(cmdRead, 0, 4096, 4, nil), reqBytes(cmdFlush, 0, 0, 0, nil)))
	f.Add(cat(reqBytes(cmdTrim, 0, 0, 8192, nil), reqBytes(cmdWriteZeroes, cmdFlagNoHole, 1<<17, 1<<16, nil), reqBytes(cmdDisc, 0, 0, 0, nil)))
	f.Add(cat(reqBytes(cmdRead, 0, 256<<10-1, 2, nil), reqBytes(cmdWrite, 0, 1<<63, 3, []byte("xyz")), reqBytes(cmdRead, 0, 0, 1<<31, nil)))
	f.Add(cat(reqBytes(cmdWrite, 0, 0, 1<<20, nil), reqBytes(42, 0xffff, 0, 0, nil)))
	f.Add(reqBytes(cmdWriteZeroes, 0, 0, 256<<10, nil))
	hs := cat(clientFlagsBytes, optBytes(optGo, infoData("vol")))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzConn(t, cat(hs, in)) })
}
