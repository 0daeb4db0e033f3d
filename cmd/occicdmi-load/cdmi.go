package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/occicdmi/occicdmi/cmd/occicdmi/app"
)

const (
	cdmiVersion   = "1.1.1"
	ctCDMIObject  = "application/cdmi-object"
	ctCDMIFolder  = "application/cdmi-container"
	smallValueLen = 4096
)

// cdmiBody is a CDMI JSON create of a value of n bytes.
func cdmiBody(n int) string {
	return `{"mimetype":"application/octet-stream","value":"` + strings.Repeat("x", n) + `"}`
}

// cdmiContainer makes this run's container (once) under the CDMI root.
func (e *env) cdmiContainer() (string, error) {
	if e.container != "" {
		return e.container, nil
	}
	u := e.target + "/cdmi/" + e.run + "/"
	_, err := do(e.client, "PUT", u, strings.NewReader("{}"),
		"Content-Type", ctCDMIFolder, "Accept", ctCDMIFolder, "X-CDMI-Specification-Version", cdmiVersion)
	if err != nil {
		return "", err
	}
	e.container = u
	return u, nil
}

// cdmiRead reads one 4 KiB data object, as CDMI JSON or as its value,
// against a file server serving a file with the bytes occicdmi answered.
func cdmiRead(asCDMI bool) func(e *env) (*pair, error) {
	return func(e *env) (*pair, error) {
		c, err := e.cdmiContainer()
		if err != nil {
			return nil, err
		}
		obj := c + "read-4k"
		if _, err := do(e.client, "PUT", obj, strings.NewReader(cdmiBody(smallValueLen)),
			"Content-Type", ctCDMIObject, "X-CDMI-Specification-Version", cdmiVersion); err != nil {
			return nil, err
		}
		req := getter(obj, "*/*")
		file := "read-4k"
		if asCDMI {
			file = "read-4k.json"
			req = func() (*http.Request, error) {
				r, err := getter(obj, ctCDMIObject)()
				if err == nil {
					r.Header.Set("X-CDMI-Specification-Version", cdmiVersion)
				}
				return r, err
			}
		}
		s, err := once(e.client, req)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(e.scratch, "files")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, file), s.body, 0o600); err != nil {
			return nil, err
		}
		base, name, stop, err := startFileServer(dir, e.o.nginx)
		if err != nil {
			return nil, err
		}
		return &pair{server: httpOp(e.client, req), baseline: httpOp(e.client, getter(base+"/"+file, "*/*")),
			baseName: name, stops: []func(){stop}}, nil
	}
}

// cdmiCreate creates a fresh 4 KiB data object per request, as CDMI JSON
// or as a plain value, against the fsyncing handler.
func cdmiCreate(asCDMI bool) func(e *env) (*pair, error) {
	return func(e *env) (*pair, error) {
		c, err := e.cdmiContainer()
		if err != nil {
			return nil, err
		}
		body, ct, prefix := strings.Repeat("x", smallValueLen), "application/octet-stream", "p"
		if asCDMI {
			body, ct, prefix = cdmiBody(smallValueLen), ctCDMIObject, "c"
		}
		var seq atomic.Int64
		req := func() (*http.Request, error) {
			r, err := http.NewRequest("PUT", fmt.Sprintf("%s%s%d", c, prefix, seq.Add(1)), strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			r.Header.Set("Content-Type", ct)
			if asCDMI {
				r.Header.Set("Accept", ctCDMIObject)
				r.Header.Set("X-CDMI-Specification-Version", cdmiVersion)
			}
			return r, nil
		}
		s, err := once(e.client, req)
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp(e.scratch, "creates-*")
		if err != nil {
			return nil, err
		}
		base, stop, err := startFsyncBaseline(dir, s, false)
		if err != nil {
			return nil, err
		}
		return &pair{server: httpOp(e.client, req), baseline: httpOp(e.client, retarget(req, base)),
			baseName: "fsync net/http", stops: []func(){stop}}, nil
	}
}

// bigPutter PUTs size bytes of pattern to u, non-CDMI.
func bigPutter(u string, size int64) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		r, err := http.NewRequest("PUT", u, io.LimitReader(pattern{}, size))
		if err != nil {
			return nil, err
		}
		r.ContentLength = size
		r.Header.Set("Content-Type", "application/octet-stream")
		return r, nil
	}
}

// bigPut replaces one big value per request, against the fsyncing
// handler replacing one file.
func bigPut(e *env) (*pair, error) {
	c, err := e.cdmiContainer()
	if err != nil {
		return nil, err
	}
	req := bigPutter(c+"big", e.o.bigSize)
	s, err := once(e.client, req)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(e.scratch, "big-*")
	if err != nil {
		return nil, err
	}
	base, stop, err := startFsyncBaseline(dir, s, true)
	if err != nil {
		return nil, err
	}
	return &pair{server: httpOp(e.client, req), baseline: httpOp(e.client, retarget(req, base)),
		baseName: "fsync net/http", clients: 1, bytes: true, stops: []func(){stop}}, nil
}

// bigGet reads one big value, against a file server reading a file of the
// same size from the same disk.
func bigGet(e *env) (*pair, error) {
	c, err := e.cdmiContainer()
	if err != nil {
		return nil, err
	}
	if _, err := once(e.client, bigPutter(c+"big", e.o.bigSize)); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.scratch, "bigfiles")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "big"), e.o.bigSize); err != nil {
		return nil, err
	}
	base, name, stop, err := startFileServer(dir, e.o.nginx)
	if err != nil {
		return nil, err
	}
	return &pair{server: httpOp(e.client, getter(c+"big", "*/*")), baseline: httpOp(e.client, getter(base+"/big", "*/*")),
		baseName: name, clients: 1, bytes: true, stops: []func(){stop}}, nil
}

// s3Get reads one big value through a second in-process occicdmi whose
// values are in S3, against GetObject of an object of the same size
// straight through the SDK.
func s3Get(e *env) (*pair, error) {
	cfg, err := app.Load("occicdmi-load", nil, os.Getenv, io.Discard)
	if err != nil {
		return nil, err
	}
	if cfg.S3Endpoint == "" || cfg.S3AccessKey == "" || cfg.S3SecretKey == "" {
		return nil, fmt.Errorf("%w: set OCCICDMI_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY", errSkipped)
	}
	ctx := context.Background()
	u, stopServer, err := startServer(ctx, func(c *app.Config) { c.Objects = "s3" })
	if err != nil {
		return nil, err
	}
	p := &pair{baseName: "S3 SDK direct", clients: 1, bytes: true, stops: []func(){stopServer}}
	obj := u + "/cdmi/" + e.run + "-s3"
	if _, err := once(e.client, bigPutter(obj, e.o.bigSize)); err != nil {
		p.stop()
		return nil, err
	}
	p.server = httpOp(e.client, getter(obj, "*/*"))
	direct, key, err := s3Direct(ctx, cfg, e.run, e.o.bigSize)
	if err != nil {
		p.stop()
		return nil, err
	}
	p.stops = append(p.stops, func() {
		_, _ = direct.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &cfg.S3Bucket, Key: &key})
	})
	p.baseline = func() (int64, string, error) {
		out, err := direct.GetObject(ctx, &awss3.GetObjectInput{Bucket: &cfg.S3Bucket, Key: &key})
		if err != nil {
			return 0, "", err
		}
		defer out.Body.Close()
		n, err := io.Copy(io.Discard, out.Body)
		return n, "", err
	}
	return p, nil
}

// s3Direct uploads size bytes to a key of this run with the SDK's
// uploader, as a program talking to S3 itself would.
func s3Direct(ctx context.Context, cfg app.Config, run string, size int64) (*awss3.Client, string, error) {
	acfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.S3Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.S3AccessKey, cfg.S3SecretKey, "")))
	if err != nil {
		return nil, "", err
	}
	client := awss3.NewFromConfig(acfg, func(so *awss3.Options) {
		so.UsePathStyle = true
		so.BaseEndpoint = aws.String(cfg.S3Endpoint)
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	key := run + "/direct"
	//lint:ignore SA1019 the manager is the project's pinned uploader
	up := manager.NewUploader(client)
	//lint:ignore SA1019 as above
	_, err = up.Upload(ctx, &awss3.PutObjectInput{Bucket: &cfg.S3Bucket, Key: &key, Body: io.LimitReader(pattern{}, size)})
	return client, key, err
}
