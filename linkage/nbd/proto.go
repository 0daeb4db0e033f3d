package nbd

// Wire constants of the NBD protocol, as NetworkBlockDevice's doc/proto.md
// defines them. Section names in the comments are those of proto.md.
// Every number on the wire is big-endian ("Conventions").

const (
	// "Newstyle negotiation": the server's first 16 bytes.
	magicInit   uint64 = 0x4e42444d41474943 // "NBDMAGIC"
	magicOption uint64 = 0x49484156454F5054 // "IHAVEOPT", also before every option
	// "Fixed newstyle negotiation": the header of every option reply.
	magicOptionReply uint64 = 0x3e889045565a9
	// "Request message" and "Simple reply message".
	magicRequest     uint32 = 0x25609513
	magicSimpleReply uint32 = 0x67446698
)

// "Handshake flags" (server) and "Client flags".
const (
	flagFixedNewstyle uint16 = 1 << 0
	flagNoZeroes      uint16 = 1 << 1

	clientFlagFixedNewstyle uint32 = 1 << 0
	clientFlagNoZeroes      uint32 = 1 << 1
)

// "Transmission flags".
const (
	tflagHasFlags        uint16 = 1 << 0
	tflagReadOnly        uint16 = 1 << 1
	tflagSendFlush       uint16 = 1 << 2
	tflagSendFUA         uint16 = 1 << 3
	tflagSendTrim        uint16 = 1 << 5
	tflagSendWriteZeroes uint16 = 1 << 6
	tflagCanMultiConn    uint16 = 1 << 8
)

// "Option types".
const (
	optExportName      uint32 = 1
	optAbort           uint32 = 2
	optList            uint32 = 3
	optStartTLS        uint32 = 5
	optInfo            uint32 = 6
	optGo              uint32 = 7
	optStructuredReply uint32 = 8
)

// "Option reply types"; errors have bit 31 set.
const (
	repAck    uint32 = 1
	repServer uint32 = 2
	repInfo   uint32 = 3

	repErrUnsup   uint32 = 1<<31 + 1
	repErrPolicy  uint32 = 1<<31 + 2
	repErrInvalid uint32 = 1<<31 + 3
	repErrTLSReqd uint32 = 1<<31 + 5
	repErrUnknown uint32 = 1<<31 + 6
	repErrShut    uint32 = 1<<31 + 7
	repErrTooBig  uint32 = 1<<31 + 9
)

// Information types of NBD_REP_INFO ("Option reply types", NBD_REP_INFO).
const (
	infoExport      uint16 = 0
	infoName        uint16 = 1
	infoDescription uint16 = 2
	infoBlockSize   uint16 = 3
)

// "Request types".
const (
	cmdRead        uint16 = 0
	cmdWrite       uint16 = 1
	cmdDisc        uint16 = 2
	cmdFlush       uint16 = 3
	cmdTrim        uint16 = 4
	cmdWriteZeroes uint16 = 6
)

// "Command flags".
const (
	cmdFlagFUA      uint16 = 1 << 0
	cmdFlagNoHole   uint16 = 1 << 1
	cmdFlagFastZero uint16 = 1 << 4
)

// "Error values": the only numbers a reply's error field may carry.
const (
	errPerm     uint32 = 1
	errIO       uint32 = 5
	errInval    uint32 = 22
	errNoSpc    uint32 = 28
	errShutdown uint32 = 108
)

const (
	// zeroPad is the reserved tail of the NBD_OPT_EXPORT_NAME reply
	// ("Newstyle negotiation"), left out under NBD_FLAG_C_NO_ZEROES.
	zeroPad = 124
	// maxString is the longest string proto.md allows ("Conventions").
	maxString = 4096
	// requestHeaderLen is the size of a request ("Request message").
	requestHeaderLen = 28
	// preferredBlock is proto.md's default preferred block size
	// ("Block size constraints").
	preferredBlock = 4096
)
