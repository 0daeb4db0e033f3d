package s3_test

import (
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

const benchSize = 256 << 20

// direct is the baseline: the SDK used straight, as a program talking to
// the S3 server itself would (the manager's default part size and
// concurrency for uploads, one GetObject for downloads).
func direct(b testing.TB) *awss3.Client {
	o := options(b)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.S3AccessKey, o.S3SecretKey, "")))
	require.NoError(b, err)
	return awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		so.UsePathStyle = true
		so.BaseEndpoint = aws.String(o.S3Endpoint)
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// Benchmark256MiB moves a 256 MiB value through the backend and, in the
// same run, straight through the SDK; compare the pairs' MB/s.
func Benchmark256MiB(b *testing.B) {
	ctx := context.Background()
	bucket := open(b)
	objs := bucket.Objects()
	client := direct(b)
	bk := options(b).S3Bucket
	key := storagetest.Prefix() + "bench"
	rawKey := "direct/" + key
	b.Cleanup(func() {
		_ = objs.Delete(ctx, key)
		_, _ = client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bk, Key: &rawKey})
	})

	b.Run("Put/backend", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			require.NoError(b, objs.Put(ctx, key, storagetest.Gen(1, benchSize), -1))
		}
	})
	b.Run("Put/sdk", func(b *testing.B) {
		b.SetBytes(benchSize)
		//lint:ignore SA1019 the manager is the project's pinned uploader
		up := manager.NewUploader(client)
		for b.Loop() {
			//lint:ignore SA1019 as above
			_, err := up.Upload(ctx, &awss3.PutObjectInput{Bucket: &bk, Key: &rawKey, Body: storagetest.Gen(1, benchSize)})
			require.NoError(b, err)
		}
	})
	// The Get pairs read what the Put pairs wrote; when run alone (-bench
	// Get), write it first, untimed.
	if _, err := objs.Size(ctx, key); err != nil {
		require.NoError(b, objs.Put(ctx, key, storagetest.Gen(1, benchSize), -1))
	}
	if _, err := client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bk, Key: &rawKey}); err != nil {
		//lint:ignore SA1019 as above
		_, err := manager.NewUploader(client).Upload(ctx, &awss3.PutObjectInput{Bucket: &bk, Key: &rawKey, Body: storagetest.Gen(1, benchSize)})
		require.NoError(b, err)
	}
	b.Run("Get/backend", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			rc, err := objs.Open(ctx, key, 0, -1)
			require.NoError(b, err)
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			require.NoError(b, err)
			require.Equal(b, int64(benchSize), n)
		}
	})
	b.Run("Get/sdk", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			out, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bk, Key: &rawKey})
			require.NoError(b, err)
			n, err := io.Copy(io.Discard, out.Body)
			out.Body.Close()
			require.NoError(b, err)
			require.Equal(b, int64(benchSize), n)
		}
	})
}
