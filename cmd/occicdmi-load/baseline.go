package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// sample is one real occicdmi answer, which a baseline imitates.
type sample struct {
	status      int
	contentType string
	body        []byte
	location    string
}

// serve runs h on a loopback port until the returned stop is called.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// answer writes s's status, Content-Type, a fresh Location when s had one,
// and a body of s's size.
func answer(s sample, payload []byte, n *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", s.contentType)
		if s.location != "" {
			w.Header().Set("Location", fmt.Sprintf("http://%s/x/%d", r.Host, n.Add(1)))
		}
		w.WriteHeader(s.status)
		_, _ = w.Write(payload)
	}
}

// startBaseline serves s's status, Content-Type and body size from a bare
// net/http handler on loopback; request bodies are read, as occicdmi must.
func startBaseline(s sample) (string, func(), error) {
	payload := bytes.Repeat([]byte("x"), len(s.body))
	var n atomic.Int64
	reply := answer(s, payload, &n)
	return serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		reply(w, r)
	}))
}

// startFsyncBaseline stores each request body the way the fs backend
// stores a value (a temporary file, fsync, rename, fsync of the folder)
// and then answers like s: the cost of durable bytes without metadata.
// With replace, every body replaces one file (a PUT on one object).
func startFsyncBaseline(dir string, s sample, replace bool) (string, func(), error) {
	payload := bytes.Repeat([]byte("x"), len(s.body))
	var n atomic.Int64
	reply := answer(s, payload, &n)
	return serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "value"
		if !replace {
			name = fmt.Sprintf("v%d", n.Add(1))
		}
		if err := storeDurably(dir, name, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reply(w, r)
	}))
}

func storeDurably(dir, name string, body io.Reader) error {
	f, err := os.CreateTemp(dir, "put-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// startFileServer serves dir's files: with nginx when one is installed
// (the server a deployment would put beside occicdmi), else with Go's
// http.FileServer. It names which.
func startFileServer(dir, nginx string) (url, name string, stop func(), err error) {
	if nginx != "" {
		url, stop, err = startNginx(dir, nginx)
		if err == nil {
			return url, "nginx", stop, nil
		}
		fmt.Fprintf(os.Stderr, "occicdmi-load: nginx did not start (%v); Go's file server instead\n", err)
	}
	url, stop, err = serve(http.FileServer(http.Dir(dir)))
	return url, "Go file server", stop, err
}

// findNginx looks for nginx on PATH and in /usr/sbin (outside root's PATH).
func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if st, err := os.Stat("/usr/sbin/nginx"); err == nil && !st.IsDir() {
		return "/usr/sbin/nginx"
	}
	return ""
}

// startNginx runs nginx in the foreground with its own prefix folder,
// serving root on a free loopback port, until stop.
func startNginx(root, bin string) (string, func(), error) {
	prefix, err := os.MkdirTemp("", "occicdmi-load-nginx-*")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nginx binds it next; a race with another program is unlikely on loopback
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // the workers must read the run's private folders
	}
	conf := user + `worker_processes auto;
error_log ` + prefix + `/error.log;
pid ` + prefix + `/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 1000000;
	client_body_temp_path ` + prefix + `/body;
	proxy_temp_path ` + prefix + `/proxy;
	fastcgi_temp_path ` + prefix + `/fastcgi;
	uwsgi_temp_path ` + prefix + `/uwsgi;
	scgi_temp_path ` + prefix + `/scgi;
	default_type application/octet-stream;
	server { listen ` + addr + `; root ` + root + `; }
}
`
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", confPath, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(prefix)
		return "", nil, err
	}
	stop := func() {
		// SIGTERM: the master stops its workers and exits (a SIGKILL would
		// leave the workers running, orphaned).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = os.RemoveAll(prefix)
	}
	url := "http://" + addr
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(url + "/"); err == nil {
			_ = resp.Body.Close()
			return url, stop, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
	stop()
	return "", nil, fmt.Errorf("not answering on %s: %s", addr, strings.TrimSpace(string(log)))
}

// pattern is an endless, cheap source of bytes for big bodies.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

// writeFile writes size bytes of pattern to path.
func writeFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.LimitReader(pattern{}, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
