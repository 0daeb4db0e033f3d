// Package s3 keeps values and volumes in an S3 bucket (Ceph radosgw, MinIO,
// AWS, ...), through aws-sdk-go-v2 with path-style addressing.
//
// Values are plain objects under "values/", so other S3 tools can read them.
// Volumes are sparse fixed-size chunk objects under "volumes/" (see
// volumes.go): S3 cannot write a range of an object, and a block device is
// mostly small writes.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/occicdmi/occicdmi/storagebackends"
)

func init() {
	storagebackends.RegisterObjects("s3", func(ctx context.Context, o storagebackends.Options) (storagebackends.Objects, error) {
		b, err := Open(ctx, o)
		if err != nil {
			return nil, err
		}
		return b.Objects(), nil
	})
	storagebackends.RegisterVolumes("s3", func(ctx context.Context, o storagebackends.Options) (storagebackends.Volumes, error) {
		b, err := Open(ctx, o)
		if err != nil {
			return nil, err
		}
		return b.Volumes(), nil
	})
}

// Bounds on how long a dead endpoint can hold a caller: connecting gives up
// after dialTimeout, a request whose answer does not start within
// headerTimeout fails, and the SDK tries a failed request maxAttempts times
// in all with at most maxBackoff between tries. A stopped endpoint (refused
// or reset connections) answers ErrUnavailable in well under a second; one
// that accepts and then says nothing, within about 3 x headerTimeout.
// The price: a server-side copy the server answers only when done (a
// multi-GiB CopyObject or UploadPartCopy on a slow store) fails after
// headerTimeout; radosgw (rgw_copy_obj_progress) and AWS start answering at
// once and keep the connection alive while they copy.
const (
	dialTimeout   = 3 * time.Second
	headerTimeout = 10 * time.Second
	maxAttempts   = 3
	maxBackoff    = 500 * time.Millisecond
)

// Bucket is a connection to one bucket.
type Bucket struct {
	client *s3.Client
	bucket string
	parts  getParts // how reads of values are split (get.go)
}

// Open connects to the bucket in o (creating it if missing). Without
// S3AccessKey it uses the SDK's standard credential chain (environment,
// shared files, instance roles).
func Open(ctx context.Context, o storagebackends.Options) (*Bucket, error) {
	if o.S3Bucket == "" {
		return nil, fmt.Errorf("s3: no bucket configured (--s3-bucket): %w", storagebackends.ErrInvalid)
	}
	region := o.S3Region
	if region == "" {
		region = "us-east-1"
	}
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = headerTimeout
			tr.MaxIdleConnsPerHost = 32
		})
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = maxAttempts
				so.MaxBackoff = maxBackoff
			})
		}),
	}
	if o.S3AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.S3AccessKey, o.S3SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: configuration: %w: %v", storagebackends.ErrInvalid, err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.UsePathStyle = true
		if o.S3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.S3Endpoint)
		}
		// Checksums only where the API demands them: the SDK's default
		// (CRC32 trailers on every upload) is not understood by older S3
		// servers such as radosgw pacific.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	b := &Bucket{client: client, bucket: o.S3Bucket, parts: getParts{size: getPartSize, concurrency: o.S3ReadAhead}}
	if err := b.ensureBucket(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bucket) ensureBucket(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if err == nil {
		return nil
	}
	if !errors.Is(mapErr("", "", err), storagebackends.ErrNotFound) {
		return mapErr("open bucket", b.bucket, err)
	}
	_, err = b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return mapErr("create bucket", b.bucket, err)
	}
	if err == nil {
		// A Put or WriteAt cut off with its endpoint cannot abort its
		// multipart upload; the parts stay (invisible, but stored) until
		// the server drops them. Ask it to after a day, on the bucket we
		// made (a bucket that already existed keeps its owner's rules).
		// Best effort: a server without lifecycle support still works.
		_, _ = b.client.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
			Bucket: &b.bucket,
			LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
				ID:                             aws.String("occicdmi-abort-incomplete-uploads"),
				Status:                         types.ExpirationStatusEnabled,
				Filter:                         &types.LifecycleRuleFilter{Prefix: aws.String("")},
				AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)},
			}}},
		})
	}
	return nil
}

// Objects returns the bucket's value store.
func (b *Bucket) Objects() *Objects {
	return &Objects{b: b, prefix: "values/", parts: b.parts}
}

// Volumes returns the bucket's volume store.
func (b *Bucket) Volumes() *Volumes { return newVolumes(b, "volumes/") }

// copySource names an object as x-amz-copy-source wants it: bucket/key,
// URL-encoded segment by segment.
func (b *Bucket) copySource(key string) *string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	s := b.bucket + "/" + strings.Join(segs, "/")
	return &s
}

// errChanged reports a source that changed while a compose read it.
var errChanged = errors.New("changed while being rewritten; retry")

// mapErr turns an SDK error into one of the portable kinds, keeping the
// SDK's message for the log.
func mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("s3: %s %q", op, key)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, kind := range []error{storagebackends.ErrInvalid, storagebackends.ErrNotFound, storagebackends.ErrExists, storagebackends.ErrUnavailable, storagebackends.ErrUnsupported, storagebackends.ErrNoSpace} {
		if errors.Is(err, kind) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload":
			return fmt.Errorf("%s: %w (%s)", what, storagebackends.ErrNotFound, ae.ErrorCode())
		case "InvalidRange", "InvalidArgument", "KeyTooLongError", "InvalidObjectName":
			return fmt.Errorf("%s: %w (%s)", what, storagebackends.ErrInvalid, ae.ErrorCode())
		case "QuotaExceeded":
			// radosgw's bucket and user quotas: 507, not "unavailable".
			return fmt.Errorf("%s: %w (%s)", what, storagebackends.ErrNoSpace, ae.ErrorCode())
		case "PreconditionFailed":
			return fmt.Errorf("%s: %w: %w", what, storagebackends.ErrUnavailable, errChanged)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusNotFound:
			return fmt.Errorf("%s: %w", what, storagebackends.ErrNotFound)
		case code == http.StatusRequestedRangeNotSatisfiable:
			return fmt.Errorf("%s: %w", what, storagebackends.ErrInvalid)
		case code == http.StatusPreconditionFailed:
			return fmt.Errorf("%s: %w: %w", what, storagebackends.ErrUnavailable, errChanged)
		case code == http.StatusInsufficientStorage:
			return fmt.Errorf("%s: %w", what, storagebackends.ErrNoSpace)
		}
	}
	// Everything else (refused connections, timeouts, 5xx, refused
	// credentials) means the store cannot serve us now. The SDK's text
	// names the request's URL (endpoint, bucket, key): it may reach a
	// client's answer, so the URLs are cut out (the endpoint is in the
	// start-up log).
	return fmt.Errorf("%s: %w: %s", what, storagebackends.ErrUnavailable, urlInText.ReplaceAllString(err.Error(), "<endpoint>"))
}

// urlInText finds the URLs, quoted or not, in an SDK error's text.
var urlInText = regexp.MustCompile(`"?https?://[^\s"]*"?`)

func isKind(err, kind error) bool { return errors.Is(mapErr("", "", err), kind) }
