package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/auth"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// basicUsersConfig is the default configuration with HTTP Basic on (one
// admin user), so that the probes are seen to need no credentials.
func basicUsersConfig(t *testing.T) Config {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.AddUser(users, "ops", "s3cret", []string{"admin"}, []string{"admin"}))
	cfg := Defaults()
	cfg.UsersFile = users
	return cfg
}

// /readyz asks the S3 endpoint about the bucket itself (HeadBucket): with
// the bucket deleted the server is not ready, naming the object and volume
// backends and nothing else; with it restored it is ready again. A
// bucket of its own, against the real radosgw.
func TestReadyzS3BucketDeleted(t *testing.T) {
	endpoint := testsupport.Need(t, "an S3 endpoint", "OCCICDMI_S3_ENDPOINT")
	cfg := basicUsersConfig(t)
	cfg.Objects, cfg.Volumes = "s3", "s3"
	cfg.S3Endpoint, cfg.S3Region = endpoint, os.Getenv("OCCICDMI_S3_REGION")
	cfg.S3AccessKey, cfg.S3SecretKey = os.Getenv("OCCICDMI_S3_ACCESS_KEY"), os.Getenv("OCCICDMI_S3_SECRET_KEY")
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.S3Bucket = "occicdmi-readyz-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	c := s3Client(t, cfg)
	_, srv, logs := newOpsApp(t, cfg) // creates the bucket
	t.Cleanup(func() { emptyAndDeleteBucket(ctx, c, cfg.S3Bucket) })

	resp, body := send(t, "GET", srv.URL+"/readyz", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "ok\n", body)

	emptyAndDeleteBucket(ctx, c, cfg.S3Bucket)
	resp, body = send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "not ready: objects, volumes\n", body, "the components only: no bucket, no endpoint")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	var logged bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "readiness: objects is down" {
			logged = true
			assert.Equal(t, "s3", l["backend"])
			assert.Contains(t, l["err"], cfg.S3Bucket, "the reason is in the log")
		}
	}
	assert.True(t, logged)
	resp, _ = send(t, "GET", srv.URL+"/healthz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the process is still up")

	_, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &cfg.S3Bucket})
	require.NoError(t, err)
	resp, body = send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "ok\n", body)
}

func s3Client(t *testing.T, cfg Config) *awss3.Client {
	t.Helper()
	region := cfg.S3Region
	if region == "" {
		region = "us-east-1"
	}
	ac, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.S3AccessKey, cfg.S3SecretKey, "")))
	require.NoError(t, err)
	return awss3.NewFromConfig(ac, func(so *awss3.Options) {
		so.UsePathStyle = true
		so.BaseEndpoint = aws.String(cfg.S3Endpoint)
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// emptyAndDeleteBucket removes a test bucket (S3 deletes only empty ones).
func emptyAndDeleteBucket(ctx context.Context, c *awss3.Client, bucket string) {
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, o := range page.Contents {
			_, _ = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: o.Key})
		}
	}
	_, _ = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket})
}

// With Keystone configured, /readyz asks its v3 endpoint: a Keystone that
// does not answer 200 makes the server not ready ("keystone"), since no
// token can be validated; the real Keystone behind a proxy the test turns
// off and on.
func TestReadyzKeystone(t *testing.T) {
	ks := needKeystone(t)
	target, err := url.Parse(ks.URL)
	require.NoError(t, err)
	var off atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if off.Load() {
			http.Error(w, "keystone is away", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	cfg := Defaults()
	cfg.KeystoneURL = proxy.URL + target.Path
	_, srv, logs := newOpsApp(t, cfg)

	resp, body := send(t, "GET", srv.URL+"/readyz", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	off.Store(true)
	resp, body = send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "not ready: keystone\n", body)
	var logged bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "readiness: keystone is down" {
			logged = true
			assert.Contains(t, l["err"], "502")
		}
	}
	assert.True(t, logged)
	off.Store(false)
	resp, body = send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
}

// Probers that come while a run of the checks is in progress share its
// results: /readyz needs no credentials, so however many probers there
// are, the backends get one set of checks at a time.
func TestReadyzProbersShareARun(t *testing.T) {
	a, srv, _ := newOpsApp(t, basicUsersConfig(t))
	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	a.ops.checks = append(a.ops.checks, readyCheck{"objects", "slow", func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			close(entered)
		}
		<-release
		return nil
	}})
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 3)
	get := func() {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			answers <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers <- answer{resp.StatusCode, string(b)}
	}
	go get()
	<-entered
	go get()
	go get()
	require.Eventually(t, func() bool {
		a.ops.mu.Lock()
		defer a.ops.mu.Unlock()
		return a.ops.waiting == 2
	}, 10*time.Second, 5*time.Millisecond, "the later probers wait for the run in progress")
	close(release)
	for range 3 {
		got := <-answers
		assert.Equal(t, http.StatusOK, got.status, got.body)
		assert.Equal(t, "ok\n", got.body)
	}
	assert.Equal(t, int32(1), calls.Load(), "one run for the three")

	resp, _ := send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int32(2), calls.Load(), "a prober after the run gets a run of its own")
}
