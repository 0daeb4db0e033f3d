package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Ping asks the endpoint about the bucket (HeadBucket): an endpoint that
// does not answer, refuses our credentials or no longer has the bucket
// fails it (storagebackends.Pinger).
func (b *Bucket) Ping(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if err != nil {
		// A missing bucket is the store being unusable, not a missing value.
		return fmt.Errorf("%w: %w", storagebackends.ErrUnavailable, mapErr("head bucket", b.bucket, err))
	}
	return nil
}

// Ping is the bucket's (storagebackends.Pinger).
func (o *Objects) Ping(ctx context.Context) error { return o.b.Ping(ctx) }

// Ping is the bucket's (storagebackends.Pinger).
func (v *Volumes) Ping(ctx context.Context) error { return v.b.Ping(ctx) }
