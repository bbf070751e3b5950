import SCMIWire

// Sensor protocol 0x15 from the agent's side (docs/protocol.md §11), as
// scmi-hwmon uses it (version 3 layouts, scalar sensors).

/// One SENSOR_DESCRIPTION_GET descriptor (the 28 bytes every descriptor starts with).
public struct SensorDescriptor: Sendable, Equatable {
    public var id: UInt32
    public var name: String
    /// attributes_high bits 7:0 (2 °C, 5 V, 6 A, 7 W, 8 J, …).
    public var unitType: UInt8
    /// attributes_high bits 15:11: the value is scaled by 10^unitExponent.
    public var unitExponent: Int8
    /// attributes_low bit 29: SENSOR_NAME_GET has a longer name.
    public var hasExtendedName: Bool
    /// attributes_low bit 31: readings may be asynchronous.
    public var supportsAsyncReading: Bool
    /// attributes_low bits 7:0.
    public var tripPoints: Int
    /// attributes_high bits 21:16.
    public var axes: Int
    public var rawAttributesLow: UInt32
    public var rawAttributesHigh: UInt32

    /// "°C", "V", … for the unit types hwmon knows; else "unit N".
    public var unitName: String {
        switch unitType {
        case 2: "degC"
        case 5: "V"
        case 6: "A"
        case 7: "W"
        case 8: "J"
        default: "unit " + String(unitType)
        }
    }
}

/// SENSOR_CONFIG_GET's word, decoded.
public struct SensorConfig: Sendable, Equatable {
    public var enabled: Bool
    /// The update interval: seconds × 10^exponent.
    public var intervalSeconds: UInt16
    public var intervalExponent: Int8
    public var raw: UInt32
}

/// A 5-bit two's-complement field as a signed number.
func signExtend5(_ bits: UInt32) -> Int8 { Int8(bitPattern: UInt8(bits & 0x1F) << 3) >> 3 }

extension SCMIClient {
    public func sensorCount() throws -> Int {
        Int(try call(SensorMessage.protocolAttributes).word(0) & 0xFFFF)
    }

    /// Every descriptor, following the pages of SENSOR_DESCRIPTION_GET.
    public func sensorDescriptors(responseCapacity: Int = SCMILimits.maxResponse) throws -> [SensorDescriptor] {
        var descriptors: [SensorDescriptor] = []
        while true {
            let values = try call(SensorMessage.descriptionGet, parameters: [UInt32(descriptors.count)], responseCapacity: responseCapacity)
            let page = DescribePage(word: try values.word(0))
            guard page.returned > 0 || page.remaining == 0 else { throw values.malformed("a page with no descriptor and more remaining") }
            var offset = 4
            for _ in 0 ..< page.returned {
                let low = try values.word(offset / 4 + 1), high = try values.word(offset / 4 + 2)
                // Extended attributes (bit 8) add 24 bytes to a scalar descriptor.
                let size = low & (1 << 8) != 0 ? 52 : 28
                descriptors.append(SensorDescriptor(
                    id: try values.word(offset / 4), name: try values.name(at: offset + 12, width: NameField.short.width),
                    unitType: UInt8(high & 0xFF), unitExponent: signExtend5(high >> 11),
                    hasExtendedName: low & (1 << 29) != 0, supportsAsyncReading: low & (1 << 31) != 0,
                    tripPoints: Int(low & 0xFF), axes: Int((high >> 16) & 0x3F), rawAttributesLow: low, rawAttributesHigh: high))
                offset += size
            }
            if page.remaining == 0 { return descriptors }
        }
    }

    public func sensorName(_ id: UInt32) throws -> String {
        try call(SensorMessage.nameGet, parameters: [id]).name(at: 4, width: NameField.extended.width)
    }

    /// A synchronous reading: the first value of the v3 layout (a scalar's only one).
    public func sensorRead(_ id: UInt32) throws -> Int64 {
        Int64(bitPattern: try call(SensorMessage.readingGet, parameters: [id, 0]).uint64(0))
    }

    /// An asynchronous reading (flags bit 0): the platform answers SUCCESS
    /// at once; SENSOR_READING_COMPLETE {sensor_id, reading} follows on the eventq.
    public func sensorReadAsynchronously(_ id: UInt32) throws {
        _ = try call(SensorMessage.readingGet, parameters: [id, 1])
    }

    /// SENSOR_TRIP_POINT_CONFIG: arms trip point `trip` of sensor `id` at
    /// `value` for crossings in `direction` (or disarms it with `.off`).
    public func sensorTripPointConfig(_ id: UInt32, trip: UInt8, value: Int64, direction: TripPointDirection) throws {
        let control = UInt32(trip) << 4 | direction.rawValue
        let raw = UInt64(bitPattern: value)
        _ = try call(SensorMessage.tripPointConfig, parameters: [id, control, UInt32(truncatingIfNeeded: raw), UInt32(truncatingIfNeeded: raw >> 32)])
    }

    public func sensorConfigGet(_ id: UInt32) throws -> SensorConfig {
        let word = try call(SensorMessage.configGet, parameters: [id]).word(0)
        return SensorConfig(enabled: word & 1 != 0, intervalSeconds: UInt16(word >> 16), intervalExponent: signExtend5(word >> 11), raw: word)
    }

    /// SENSOR_CONFIG_SET: enabled or not, the update interval kept (0).
    public func sensorEnable(_ id: UInt32, _ enabled: Bool) throws {
        _ = try call(SensorMessage.configSet, parameters: [id, enabled ? 1 : 0])
    }
}

/// SENSOR_TRIP_POINT_CONFIG event control (bits 1:0): which crossings
/// of the trip point raise SENSOR_TRIP_POINT_EVENT.
public enum TripPointDirection: UInt32, Sendable, CaseIterable {
    case off = 0
    /// The value reaches the trip point from below.
    case up = 1
    /// The value falls below the trip point.
    case down = 2
    case both = 3
}
