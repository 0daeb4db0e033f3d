package app

// The S3 backend (values and chunked volumes in a bucket): --objects s3,
// --volumes s3. Pure Go, so it is in every build.
import _ "github.com/occicdmi/occicdmi/storagebackends/s3"
