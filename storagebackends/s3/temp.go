package s3

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// RemoveTemp aborts the multipart uploads of values that a crash left
// unfinished (storagebackends.TempRemover): their parts are stored and
// billed, but no reader sees them. An upload started less than age ago may
// be another process's Put in progress and stays. The bucket's lifecycle
// rule drops what is left after a day anyway.
func (o *Objects) RemoveTemp(ctx context.Context, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	in := &s3.ListMultipartUploadsInput{Bucket: &o.b.bucket, Prefix: &o.prefix}
	n := 0
	for {
		out, err := o.b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, mapErr("list unfinished uploads", o.prefix, err)
		}
		for _, u := range out.Uploads {
			if age > 0 && (u.Initiated == nil || u.Initiated.After(cutoff)) {
				continue
			}
			_, err := o.b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &o.b.bucket, Key: u.Key, UploadId: u.UploadId})
			if err != nil {
				return n, mapErr("abort an unfinished upload", *u.Key, err)
			}
			n++
		}
		if out.IsTruncated == nil || !*out.IsTruncated {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
