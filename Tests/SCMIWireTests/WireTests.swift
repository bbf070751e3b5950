import SCMIWire
import Testing

/// The wire module on its own: header bits, status names, protocol and message
/// ids with the spec's names, and the codecs engine and client share.
@Suite struct HeaderTests {
    @Test func headerRoundTripsBitForBit() {
        // Every field at its extremes, and a word with the reserved bits set.
        for raw: UInt32 in [0, 0x0FFF_FFFF, 0xF000_0000, 0xFFFF_FFFF, 0x0FFC_5006, 0x1234_5678, 0x8000_0001] {
            let header = MessageHeader(rawValue: raw)
            let rebuilt = MessageHeader(protocolID: header.protocolID, messageID: header.messageID,
                                        type: header.type, token: header.token)
            #expect(rebuilt.rawValue | header.reservedBits == raw)
            #expect(MessageHeader(rawValue: header.rawValue) == header)
        }
        for token: UInt16 in [0, 1, 0x155, 0x2AA, 0x3FF] {
            for type in [MessageType.command, .delayedResponse, .notification] {
                let header = MessageHeader(protocolID: 0xAB, messageID: 0xCD, type: type, token: token)
                #expect(header.rawValue == 0xCD | UInt32(type.rawValue) << 8 | 0xAB << 10 | UInt32(token) << 18)
                #expect(header.protocolID == 0xAB && header.messageID == 0xCD)
                #expect(header.type == type && header.token == token && header.reservedBits == 0)
            }
        }
        // Tokens are 10 bits: an 11-bit token is cut, never spills into bits 31:28.
        #expect(MessageHeader(protocolID: 0x10, messageID: 0, token: 0x7FF).token == 0x3FF)
        #expect(MessageHeader(protocolID: 0x10, messageID: 0, token: 0xFFFF).reservedBits == 0)
    }

    @Test func headerFromAMessageEnum() {
        let header = MessageHeader(ClockMessage.rateGet, token: 5)
        #expect(header == MessageHeader(protocolID: 0x14, messageID: 0x6, token: 5))
        #expect(MessageHeader(VoltageMessage.levelSet).rawValue == 0x7 | 0x17 << 10)
        #expect(MessageHeader(BaseMessage.protocolVersion).rawValue == 0x10 << 10)
    }

    @Test func wellFormedCommands() {
        #expect(MessageHeader(protocolID: 0x14, messageID: 6).isWellFormedCommand)
        #expect(!MessageHeader(rawValue: 0x1 << 8).isWellFormedCommand)
        #expect(!MessageHeader(rawValue: 0x1000_0000).isWellFormedCommand)
        #expect(MessageHeader(rawValue: 0x1 << 8).type == .reserved)
    }

    @Test func limitsAreVirtioSCMIs() {
        #expect(SCMILimits.maxPayload == 128)
        #expect(SCMILimits.maxRequest == 132 && SCMILimits.maxResponse == 136 && SCMILimits.minResponse == 8)
    }
}

@Suite struct StatusTests {
    @Test func everyStatusHasTheSpecsName() {
        let names: [Int32: String] = [
            0: "SUCCESS", -1: "NOT_SUPPORTED", -2: "INVALID_PARAMETERS", -3: "DENIED", -4: "NOT_FOUND",
            -5: "OUT_OF_RANGE", -6: "BUSY", -7: "COMMS_ERROR", -8: "GENERIC_ERROR", -9: "HARDWARE_ERROR",
            -10: "PROTOCOL_ERROR", -11: "IN_USE", -12: "PARTIAL",
        ]
        for (raw, name) in names {
            #expect(SCMIStatus(rawValue: raw).name.description == name)
            #expect(SCMIStatus(rawValue: raw).description == name + " (" + String(raw) + ")")
        }
        #expect(SCMIStatus(rawValue: -128).name == "VENDOR_SPECIFIC")
        #expect(SCMIStatus(rawValue: Int32.min).name == "VENDOR_SPECIFIC")
        #expect(SCMIStatus(rawValue: -13).name == "UNKNOWN_STATUS")
        #expect(SCMIStatus(rawValue: -127).name == "UNKNOWN_STATUS")
        #expect(SCMIStatus(rawValue: 1).name == "UNKNOWN_STATUS")
        #expect(SCMIStatus.success.isSuccess && !SCMIStatus.busy.isSuccess)
        #expect(SCMIStatus.denied == SCMIStatus(rawValue: -3) && SCMIStatus.inUse.rawValue == -11)
    }
}

@Suite struct IdentifierTests {
    @Test func protocolIDsAreTheSpecs() {
        let ids: [(ProtocolID, UInt8, String)] = [
            (.base, 0x10, "BASE"), (.powerDomain, 0x11, "POWER_DOMAIN"), (.system, 0x12, "SYSTEM_POWER"),
            (.performance, 0x13, "PERFORMANCE"), (.clock, 0x14, "CLOCK"), (.sensor, 0x15, "SENSOR"),
            (.reset, 0x16, "RESET_DOMAIN"), (.voltage, 0x17, "VOLTAGE"), (.powerCapping, 0x18, "POWERCAP"),
            (.pinControl, 0x19, "PINCTRL"),
        ]
        for (id, raw, name) in ids {
            #expect(id.rawValue == raw)
            #expect(id.specName.description == name)
            #expect(MessageNames.protocolName(raw).description == name)
        }
        #expect(ProtocolID.systemPower == .system)
        #expect(ProtocolID(0x42).specName.description == "UNKNOWN_PROTOCOL" && ProtocolID(0x42).name == "protocol-0x42")
        #expect(ProtocolID.clock.name == "clock" && ProtocolID.clock.description == "0x14")
        #expect(ProtocolID.clock < .voltage)
    }

    /// The names MessageNames gave before the enums existed (docs/protocol.md §6–13),
    /// id for id: the enums hold exactly these.
    static let specNames: [(UInt8, [UInt8: String])] = [
        (0x10, [0x3: "BASE_DISCOVER_VENDOR", 0x4: "BASE_DISCOVER_SUB_VENDOR", 0x5: "BASE_DISCOVER_IMPLEMENTATION_VERSION", 0x6: "BASE_DISCOVER_LIST_PROTOCOLS", 0x7: "BASE_DISCOVER_AGENT", 0x8: "BASE_NOTIFY_ERRORS", 0x9: "BASE_SET_DEVICE_PERMISSIONS", 0xA: "BASE_SET_PROTOCOL_PERMISSIONS", 0xB: "BASE_RESET_AGENT_CONFIGURATION"]),
        (0x11, [0x3: "POWER_DOMAIN_ATTRIBUTES", 0x4: "POWER_STATE_SET", 0x5: "POWER_STATE_GET", 0x6: "POWER_STATE_NOTIFY", 0x7: "POWER_STATE_CHANGE_REQUESTED_NOTIFY", 0x8: "POWER_DOMAIN_NAME_GET"]),
        (0x13, [0x3: "PERFORMANCE_DOMAIN_ATTRIBUTES", 0x4: "PERFORMANCE_DESCRIBE_LEVELS", 0x5: "PERFORMANCE_LIMITS_SET", 0x6: "PERFORMANCE_LIMITS_GET", 0x7: "PERFORMANCE_LEVEL_SET", 0x8: "PERFORMANCE_LEVEL_GET", 0x9: "PERFORMANCE_NOTIFY_LIMITS", 0xA: "PERFORMANCE_NOTIFY_LEVEL", 0xB: "PERFORMANCE_DESCRIBE_FASTCHANNEL", 0xC: "PERFORMANCE_DOMAIN_NAME_GET"]),
        (0x14, [0x3: "CLOCK_ATTRIBUTES", 0x4: "CLOCK_DESCRIBE_RATES", 0x5: "CLOCK_RATE_SET", 0x6: "CLOCK_RATE_GET", 0x7: "CLOCK_CONFIG_SET", 0x8: "CLOCK_NAME_GET", 0x9: "CLOCK_RATE_NOTIFY", 0xA: "CLOCK_RATE_CHANGE_REQUESTED_NOTIFY", 0xB: "CLOCK_CONFIG_GET", 0xC: "CLOCK_POSSIBLE_PARENTS_GET", 0xD: "CLOCK_PARENT_SET", 0xE: "CLOCK_PARENT_GET", 0xF: "CLOCK_GET_PERMISSIONS"]),
        (0x15, [0x3: "SENSOR_DESCRIPTION_GET", 0x4: "SENSOR_TRIP_POINT_NOTIFY", 0x5: "SENSOR_TRIP_POINT_CONFIG", 0x6: "SENSOR_READING_GET", 0x7: "SENSOR_AXIS_DESCRIPTION_GET", 0x8: "SENSOR_LIST_UPDATE_INTERVALS", 0x9: "SENSOR_CONFIG_GET", 0xA: "SENSOR_CONFIG_SET", 0xB: "SENSOR_CONTINUOUS_UPDATE_NOTIFY", 0xC: "SENSOR_NAME_GET", 0xD: "SENSOR_AXIS_NAME_GET"]),
        (0x16, [0x3: "RESET_DOMAIN_ATTRIBUTES", 0x4: "RESET", 0x5: "RESET_NOTIFY", 0x6: "RESET_DOMAIN_NAME_GET"]),
        (0x17, [0x3: "VOLTAGE_DOMAIN_ATTRIBUTES", 0x4: "VOLTAGE_DESCRIBE_LEVELS", 0x5: "VOLTAGE_CONFIG_SET", 0x6: "VOLTAGE_CONFIG_GET", 0x7: "VOLTAGE_LEVEL_SET", 0x8: "VOLTAGE_LEVEL_GET", 0x9: "VOLTAGE_DOMAIN_NAME_GET"]),
    ]

    @Test func messageEnumsHoldTheSpecsIDsAndNames() {
        func check<Message: SCMIMessage>(_: Message.Type) {
            let expected = Self.specNames.first { $0.0 == Message.protocolID.rawValue }!.1
            #expect(Message.allCases.count == expected.count + 3)
            for message in Message.allCases {
                let name = message.name.description
                switch message.rawValue {
                case 0: #expect(name == "PROTOCOL_VERSION")
                case 1: #expect(name == "PROTOCOL_ATTRIBUTES")
                case 2: #expect(name == "PROTOCOL_MESSAGE_ATTRIBUTES")
                default: #expect(expected[message.rawValue] == name)
                }
                let looked = MessageNames.messageName(protocolID: Message.protocolID.rawValue, messageID: message.rawValue)
                #expect(looked.description == name)
            }
        }
        check(BaseMessage.self)
        check(PowerDomainMessage.self)
        check(PerformanceMessage.self)
        check(ClockMessage.self)
        check(SensorMessage.self)
        check(ResetMessage.self)
        check(VoltageMessage.self)
    }

    @Test func unknownMessagesAndProtocols() {
        #expect(MessageNames.messageName(protocolID: 0x14, messageID: 0x10).description == "UNKNOWN_MESSAGE")
        #expect(MessageNames.messageName(protocolID: 0x12, messageID: 0x3).description == "UNKNOWN_MESSAGE")
        #expect(MessageNames.messageName(protocolID: 0x42, messageID: 0x0).description == "PROTOCOL_VERSION")
        #expect(ClockMessage(rawValue: 0x10) == nil && VoltageMessage(rawValue: 0xA) == nil)
        #expect(ClockMessage.rateGet.rawValue == 0x6 && VoltageMessage.domainNameGet.rawValue == 0x9)
        #expect(BaseMessage.discoverListProtocols.rawValue == 0x6 && ResetMessage.reset.rawValue == 0x4)
    }
}

@Suite struct CodecTests {
    @Test func wordsAreLittleEndian() {
        #expect(LittleEndian.bytes(of: [0x0403_0201, 0xDDCC_BBAA]) == [1, 2, 3, 4, 0xAA, 0xBB, 0xCC, 0xDD])
        let bytes: [UInt8] = [1, 2, 3, 4, 5]
        #expect(LittleEndian.word(bytes, at: 0) == 0x0403_0201)
        #expect(LittleEndian.word(bytes, at: 1) == 0x0504_0302)
        #expect(LittleEndian.word(bytes, at: 2) == nil)
        #expect(LittleEndian.word(bytes, at: -1) == nil)
        #expect(LittleEndian.word([], at: 0) == nil)
        var out: [UInt8] = [9]
        LittleEndian.append(0x1122_3344, to: &out)
        #expect(out == [9, 0x44, 0x33, 0x22, 0x11])
        var space = [UInt8](repeating: 0, count: 6)
        space.withUnsafeMutableBytes { raw in
            #expect(LittleEndian.store(0xA1B2_C3D4, into: raw, at: 2))
            #expect(!LittleEndian.store(0xFFFF_FFFF, into: raw, at: 3))
            #expect(!LittleEndian.store(0xFFFF_FFFF, into: raw, at: -1))
        }
        #expect(space == [0, 0, 0xD4, 0xC3, 0xB2, 0xA1])
    }

    @Test func nameFieldsArePaddedAndTruncated() {
        #expect(NameField.short.width == 16 && NameField.short.capacity == 15)
        #expect(NameField.extended.width == 64 && NameField.extended.capacity == 63)
        for field in NameField.allCases {
            let exact = String(repeating: "a", count: field.capacity)
            let over = exact + "b"
            #expect(field.fits(exact) && !field.fits(over))
            // Exactly capacity bytes: kept whole, one NUL after.
            #expect(field.encode(exact) == Array(exact.utf8) + [0])
            // One more: cut to capacity, still NUL-terminated.
            #expect(field.encode(over) == Array(exact.utf8) + [0])
            #expect(field.encode(over + "ccc").count == field.width)
            #expect(field.decode(field.encode(over)) == exact)
            // Short text: NUL-padded to the width.
            #expect(field.encode("usb") == Array("usb".utf8) + Array(repeating: 0, count: field.width - 3))
            #expect(field.decode(field.encode("usb")) == "usb")
            #expect(field.encode("") == Array(repeating: 0, count: field.width))
            #expect(field.decode(field.encode("")) == "")
        }
        // Decoding stops at the first NUL and at the width, whatever follows.
        #expect(NameField.short.decode(Array("ab".utf8) + [0] + Array("cd".utf8)) == "ab")
        #expect(NameField.short.decode(Array(repeating: UInt8(ascii: "x"), count: 20)) == String(repeating: "x", count: 16))
        // Truncation counts UTF-8 bytes (as the engine always has).
        #expect(!NameField.short.fits("ééééééééé") && NameField.short.encode("ééééééééé").count == 16)
    }

    @Test func pagingWordsPackReturnedFormatRemaining() {
        // A clock list page: 15 rates here, 25 after.
        #expect(DescribePage(returned: 15, remaining: 25).word == 15 | 25 << 16)
        // The triplet of a range: 3, format bit 12, none remaining.
        #expect(DescribePage.triplet.word == 3 | 1 << 12)
        #expect(DescribePage(word: 3 | 1 << 12) == .triplet)
        // Reading splits the fields and ignores reserved bits 15:13.
        let page = DescribePage(word: 0xFFFF_EFFF)
        #expect(page.returned == 0xFFF && page.remaining == 0xFFFF && !page.isTriplet)
        #expect(DescribePage(word: 0x0001_001F) == DescribePage(returned: 31, remaining: 1))
        // Counts beyond their fields are clamped, never spill into the others.
        #expect(DescribePage(returned: 0x1000, remaining: 0).word == 0xFFF)
        #expect(DescribePage(returned: 1, remaining: 0x1_0000).word == 1 | 0xFFFF << 16)
        #expect(DescribePage(returned: -1, remaining: -1).word == 0)
        for (returned, remaining, triplet) in [(0, 0, false), (1, 0xFFFF, false), (0xFFF, 7, false), (3, 0, true)] {
            let page = DescribePage(returned: returned, remaining: remaining, isTriplet: triplet)
            #expect(DescribePage(word: page.word) == page)
        }
    }
}
