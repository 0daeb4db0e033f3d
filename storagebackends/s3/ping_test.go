package s3_test

import (
	"context"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/s3"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// Ping is a HeadBucket: up while the bucket is there, down (unavailable,
// not "not found") once it is deleted, up again when it is back.
func TestPingSeesTheBucket(t *testing.T) {
	o := options(t)
	o.S3Bucket = "occicdmi-" + strings.TrimSuffix(storagetest.Prefix(), "-")
	ctx := context.Background()
	b, err := s3.Open(ctx, o)
	require.NoError(t, err)
	c := direct(t)
	t.Cleanup(func() { _, _ = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &o.S3Bucket}) })
	var objs, vols storagebackends.Pinger = b.Objects(), b.Volumes()
	require.NoError(t, objs.Ping(ctx))
	require.NoError(t, vols.Ping(ctx))

	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &o.S3Bucket})
	require.NoError(t, err)
	err = objs.Ping(ctx)
	require.Error(t, err)
	assert.Equal(t, kind.Unavailable, kind.Of(err), "%v", err)
	assert.Error(t, vols.Ping(ctx))

	_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &o.S3Bucket})
	require.NoError(t, err)
	assert.NoError(t, objs.Ping(ctx))
}
