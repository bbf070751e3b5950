// The vhost-user wire protocol: request codes, header flags, feature bits
// (QEMU docs/interop/vhost-user.rst; docs/protocol.md §20-§24).

/// Request codes the frontend sends to the backend.
public enum VhostUserRequest: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case getFeatures = 1
    case setFeatures = 2
    case setOwner = 3
    case resetOwner = 4
    case setMemTable = 5
    case setLogBase = 6
    case setLogFD = 7
    case setVringNum = 8
    case setVringAddr = 9
    case setVringBase = 10
    case getVringBase = 11
    case setVringKick = 12
    case setVringCall = 13
    case setVringErr = 14
    case getProtocolFeatures = 15
    case setProtocolFeatures = 16
    case getQueueNum = 17
    case setVringEnable = 18
    case sendRARP = 19
    case netSetMTU = 20
    case setBackendReqFD = 21
    case iotlbMessage = 22
    case setVringEndian = 23
    case getConfig = 24
    case setConfig = 25
    case createCryptoSession = 26
    case closeCryptoSession = 27
    case postcopyAdvise = 28
    case postcopyListen = 29
    case postcopyEnd = 30
    case getInflightFD = 31
    case setInflightFD = 32
    case gpuSetSocket = 33
    case resetDevice = 34
    case vringKick = 35
    case getMaxMemSlots = 36
    case addMemReg = 37
    case remMemReg = 38
    case setStatus = 39
    case getStatus = 40
    case getSharedObject = 41
    case setDeviceStateFD = 42
    case checkDeviceState = 43
    case getShmemConfig = 44

    /// The name the specification uses, for logs.
    public var description: String {
        switch self {
        case .getFeatures: return "GET_FEATURES"
        case .setFeatures: return "SET_FEATURES"
        case .setOwner: return "SET_OWNER"
        case .resetOwner: return "RESET_OWNER"
        case .setMemTable: return "SET_MEM_TABLE"
        case .setLogBase: return "SET_LOG_BASE"
        case .setLogFD: return "SET_LOG_FD"
        case .setVringNum: return "SET_VRING_NUM"
        case .setVringAddr: return "SET_VRING_ADDR"
        case .setVringBase: return "SET_VRING_BASE"
        case .getVringBase: return "GET_VRING_BASE"
        case .setVringKick: return "SET_VRING_KICK"
        case .setVringCall: return "SET_VRING_CALL"
        case .setVringErr: return "SET_VRING_ERR"
        case .getProtocolFeatures: return "GET_PROTOCOL_FEATURES"
        case .setProtocolFeatures: return "SET_PROTOCOL_FEATURES"
        case .getQueueNum: return "GET_QUEUE_NUM"
        case .setVringEnable: return "SET_VRING_ENABLE"
        case .sendRARP: return "SEND_RARP"
        case .netSetMTU: return "NET_SET_MTU"
        case .setBackendReqFD: return "SET_BACKEND_REQ_FD"
        case .iotlbMessage: return "IOTLB_MSG"
        case .setVringEndian: return "SET_VRING_ENDIAN"
        case .getConfig: return "GET_CONFIG"
        case .setConfig: return "SET_CONFIG"
        case .createCryptoSession: return "CREATE_CRYPTO_SESSION"
        case .closeCryptoSession: return "CLOSE_CRYPTO_SESSION"
        case .postcopyAdvise: return "POSTCOPY_ADVISE"
        case .postcopyListen: return "POSTCOPY_LISTEN"
        case .postcopyEnd: return "POSTCOPY_END"
        case .getInflightFD: return "GET_INFLIGHT_FD"
        case .setInflightFD: return "SET_INFLIGHT_FD"
        case .gpuSetSocket: return "GPU_SET_SOCKET"
        case .resetDevice: return "RESET_DEVICE"
        case .vringKick: return "VRING_KICK"
        case .getMaxMemSlots: return "GET_MAX_MEM_SLOTS"
        case .addMemReg: return "ADD_MEM_REG"
        case .remMemReg: return "REM_MEM_REG"
        case .setStatus: return "SET_STATUS"
        case .getStatus: return "GET_STATUS"
        case .getSharedObject: return "GET_SHARED_OBJECT"
        case .setDeviceStateFD: return "SET_DEVICE_STATE_FD"
        case .checkDeviceState: return "CHECK_DEVICE_STATE"
        case .getShmemConfig: return "GET_SHMEM_CONFIG"
        }
    }

    /// Requests that may carry file descriptors (SCM_RIGHTS) at all.
    public var mayCarryFileDescriptors: Bool {
        switch self {
        case .setMemTable, .setLogBase, .setLogFD, .setVringKick, .setVringCall, .setVringErr,
             .setBackendReqFD, .setInflightFD, .gpuSetSocket, .addMemReg, .setDeviceStateFD:
            return true
        default:
            return false
        }
    }
}

/// Header flag bits.
public enum VhostUserFlags {
    /// Bits 1:0 hold the protocol version, which must be 1.
    public static let versionMask: UInt32 = 0x3
    public static let version: UInt32 = 0x1
    /// Set on every backend reply.
    public static let reply: UInt32 = 0x4
    /// The frontend asks for an acknowledgement (REPLY_ACK).
    public static let needReply: UInt32 = 0x8
    /// Every bit a valid header may have.
    public static let known: UInt32 = versionMask | reply | needReply
}

/// Protocol-wide limits.
public enum VhostUserLimits {
    public static let headerSize = 12
    /// Largest payload accepted (rust-vmm's MAX_MSG_SIZE).
    public static let maximumPayloadSize = 4096
    /// Largest number of fds accepted on one message.
    public static let maximumFileDescriptors = 32
    /// Largest memory table accepted.
    public static let maximumMemoryRegions = 32
}

/// Virtio and vhost feature bits exchanged with GET/SET_FEATURES (masks).
public enum VirtioFeatures {
    public static let notifyOnEmpty: UInt64 = 1 << 24
    public static let logAll: UInt64 = 1 << 26
    public static let indirectDescriptors: UInt64 = 1 << 28
    public static let eventIndex: UInt64 = 1 << 29
    /// VHOST_USER_F_PROTOCOL_FEATURES: enables protocol features and SET_VRING_ENABLE.
    public static let protocolFeatures: UInt64 = 1 << 30
    public static let version1: UInt64 = 1 << 32
    public static let accessPlatform: UInt64 = 1 << 33
    public static let ringPacked: UInt64 = 1 << 34
    public static let ringReset: UInt64 = 1 << 40

    /// The ring features this transport implements and offers.
    public static let transportOffered: UInt64 = version1 | protocolFeatures | eventIndex | indirectDescriptors | notifyOnEmpty
}

/// Protocol feature bits exchanged with GET/SET_PROTOCOL_FEATURES (masks).
public enum VhostUserProtocolFeatures {
    public static let multipleQueues: UInt64 = 1 << 0
    public static let logSharedMemory: UInt64 = 1 << 1
    public static let replyAck: UInt64 = 1 << 3
    public static let backendRequests: UInt64 = 1 << 5
    public static let config: UInt64 = 1 << 9
    public static let resetDevice: UInt64 = 1 << 13
    public static let inbandNotifications: UInt64 = 1 << 14
    public static let configureMemorySlots: UInt64 = 1 << 15
    public static let status: UInt64 = 1 << 16

    /// What this backend offers: MQ (QEMU then asks GET_QUEUE_NUM) and REPLY_ACK.
    public static let backendOffered: UInt64 = multipleQueues | replyAck
}

/// The 12-byte message header.
public struct VhostUserHeader: Sendable, Equatable {
    public var request: UInt32
    public var flags: UInt32
    public var size: UInt32

    public init(request: UInt32, flags: UInt32, size: UInt32) {
        self.request = request
        self.flags = flags
        self.size = size
    }

    public var version: UInt32 { flags & VhostUserFlags.versionMask }
    public var isReply: Bool { flags & VhostUserFlags.reply != 0 }
    public var needsReply: Bool { flags & VhostUserFlags.needReply != 0 }

    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= VhostUserLimits.headerSize)
        request = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        flags = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        size = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }

    public func write(to bytes: UnsafeMutableRawBufferPointer) {
        bytes.storeBytes(of: request.littleEndian, toByteOffset: 0, as: UInt32.self)
        bytes.storeBytes(of: flags.littleEndian, toByteOffset: 4, as: UInt32.self)
        bytes.storeBytes(of: size.littleEndian, toByteOffset: 8, as: UInt32.self)
    }
}
