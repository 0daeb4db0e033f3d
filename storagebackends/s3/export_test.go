package s3

// WithGetParts makes o split reads into parts of size bytes, concurrency
// answers open at once, so that tests cross part boundaries with small
// values.
func WithGetParts(o *Objects, size int64, concurrency int) *Objects {
	o.parts = getParts{size: size, concurrency: concurrency}
	return o
}
