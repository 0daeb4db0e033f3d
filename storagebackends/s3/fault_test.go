package s3_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/s3"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// cutter hands out a stream and cuts the proxy once n bytes have gone, so
// the failure is the network's, mid-upload, not the reader's.
type cutter struct {
	r    io.Reader
	n    int64
	read int64
	cut  func()
	once sync.Once
}

func (c *cutter) Read(b []byte) (int, error) {
	if c.read >= c.n {
		c.once.Do(c.cut)
	}
	n, err := c.r.Read(b)
	c.read += int64(n)
	return n, err
}

// bound is how long a call against a dead endpoint may take: the dial
// timeout times the attempts, plus backoff, with room for a loaded machine.
// It guards against hangs; it is not a speed claim.
const bound = 20 * time.Second

// TestUnavailable cuts the S3 endpoint mid-upload and keeps it cut: every
// call fails with ErrUnavailable, quickly, nothing half-written shows, and
// once the endpoint is back the same Bucket serves again without reopening.
func TestUnavailable(t *testing.T) {
	o := options(t)
	u, err := url.Parse(o.S3Endpoint)
	require.NoError(t, err)
	px := storagetest.StartProxy(t, u.Host)
	o.S3Endpoint = "http://" + px.Addr
	ctx := context.Background()
	b, err := s3.Open(ctx, o)
	require.NoError(t, err)
	objs, vols := b.Objects(), b.Volumes()
	p := storagetest.Prefix()
	key, vol := p+"value", p+"vol"
	before := []byte("the value before the outage")
	require.NoError(t, objs.Put(ctx, key, bytes.NewReader(before), int64(len(before))))
	require.NoError(t, vols.CreateVolume(ctx, vol, 8<<20))
	_, err = vols.WriteAt(ctx, vol, before, 4<<20-3)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = objs.Delete(context.Background(), key)
		_ = vols.DeleteVolume(context.Background(), vol)
		abortUploads(t, p)
	})

	// A large Put loses its endpoint after 20 MiB (several parts are out).
	err = objs.Put(ctx, key, &cutter{r: storagetest.Gen(1, 40<<20), n: 20 << 20, cut: px.Cut}, -1)
	require.Error(t, err)
	assert.ErrorIs(t, err, storagebackends.ErrUnavailable, "a Put cut mid-stream")

	calls := map[string]func() error{
		"Put":  func() error { return objs.Put(ctx, key, bytes.NewReader([]byte("new")), 3) },
		"Open": func() error { _, err := objs.Open(ctx, key, 0, -1); return err },
		"Size": func() error { _, err := objs.Size(ctx, key); return err },
		"WriteAt": func() error {
			return objs.WriteAt(ctx, key, 0, bytes.NewReader([]byte("x")), 1)
		},
		"PutRange": func() error {
			return objs.PutRange(ctx, p+"staged", key, 0, bytes.NewReader([]byte("x")), 1)
		},
		"Delete":       func() error { return objs.Delete(ctx, key) },
		"Copy":         func() error { return objs.Copy(ctx, p+"copy", key) },
		"List":         func() error { return objs.List(ctx, p, func(string, int64) error { return nil }) },
		"CreateVolume": func() error { return vols.CreateVolume(ctx, p+"other", 1<<20) },
		"ReadAt":       func() error { _, err := vols.ReadAt(ctx, vol, make([]byte, 10), 0); return err },
		"VolumeWrite":  func() error { _, err := vols.WriteAt(ctx, vol, []byte("x"), 0); return err },
		"Snapshot":     func() error { return vols.Snapshot(ctx, vol, "s") },
		"Open bucket":  func() error { _, err := s3.Open(ctx, o); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		assert.ErrorIs(t, err, storagebackends.ErrUnavailable, "%s while the endpoint is down", name)
		assert.Less(t, took, bound, "%s must fail, not hang", name)
		if err != nil {
			assert.Contains(t, err.Error(), "unavailable", "%s: the message says what happened", name)
			t.Logf("%s after %v: %v", name, took.Round(time.Millisecond), err)
		}
	}

	px.Restore(t)
	rc, err := objs.Open(ctx, key, 0, -1)
	require.NoError(t, err, "the same Bucket serves again once the endpoint is back")
	got, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	assert.Equal(t, before, got, "the failed Puts left the value as it was")
	got = make([]byte, len(before))
	_, err = vols.ReadAt(ctx, vol, got, 4<<20-3)
	require.NoError(t, err)
	assert.Equal(t, before, got, "the failed volume write left the volume as it was")
	require.NoError(t, objs.Put(ctx, key, bytes.NewReader([]byte("after")), 5))
	_, err = objs.Size(ctx, p+"copy")
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "the failed Copy made nothing")
}

// abortUploads drops the multipart uploads the outage left under the
// prefix: the backend could not abort them while the endpoint was gone.
func abortUploads(t *testing.T, prefix string) {
	c := direct(t)
	bk := options(t).S3Bucket
	ctx := context.Background()
	out, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &bk, Prefix: aws.String("values/" + prefix)})
	if err != nil {
		t.Logf("listing leftover uploads: %v", err)
		return
	}
	for _, u := range out.Uploads {
		_, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &bk, Key: u.Key, UploadId: u.UploadId})
		t.Logf("aborted leftover upload of %s: %v", aws.ToString(u.Key), err)
	}
}
