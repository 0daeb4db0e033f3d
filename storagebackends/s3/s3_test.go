package s3_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/s3"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// options reads the S3 server the tests use (scripts/testenv.sh env ceph
// prints them for the radosgw it starts).
func options(t testing.TB) storagebackends.Options {
	o := storagebackends.Options{
		S3Endpoint:  os.Getenv("OCCICDMI_S3_ENDPOINT"),
		S3Region:    os.Getenv("OCCICDMI_S3_REGION"),
		S3Bucket:    os.Getenv("OCCICDMI_S3_BUCKET"),
		S3AccessKey: os.Getenv("OCCICDMI_S3_ACCESS_KEY"),
		S3SecretKey: os.Getenv("OCCICDMI_S3_SECRET_KEY"),
	}
	storagetest.NeedService(t, "an S3 endpoint (OCCICDMI_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _BUCKET)",
		o.S3Endpoint != "" && o.S3Bucket != "")
	return o
}

func open(t testing.TB) *s3.Bucket {
	t.Helper()
	b, err := s3.Open(context.Background(), options(t))
	require.NoError(t, err)
	return b
}

func TestObjects(t *testing.T) {
	storagetest.RunObjects(t, func(t *testing.T) storagebackends.Objects { return open(t).Objects() })
}

func TestVolumes(t *testing.T) {
	storagetest.RunVolumes(t, func(t *testing.T) storagebackends.Volumes { return open(t).Volumes() })
}
