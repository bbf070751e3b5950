import CLibFDT

/// The one pass over a checked blob that builds `FlattenedDeviceTree`'s index: nodes in tree
/// order with paths built from their parent's (never `fdt_get_path`, which is quadratic over a
/// whole tree), properties with interned names, and the phandle table.
struct IndexBuilder {
    let storage: BlobStorage
    var nodes: [NodeRecord] = []
    var properties: [PropertyRecord] = []
    var propertyNames: [String] = []
    var propertyNameIDs: [String: Int32] = [:]
    var phandles: [UInt32: Int32] = [:]
    var duplicatedPhandles: [UInt32: [Int32]] = [:]

    /// Name id per offset in the strings block, so each distinct name is decoded once.
    private var nameIDAtStringOffset: [Int32]
    private let stringsStart: Int
    private var phandleNameID: Int32 = -1
    private var linuxPhandleNameID: Int32 = -1

    init(storage: BlobStorage) {
        self.storage = storage
        let header = Header(storage)
        stringsStart = Int(header.stringsOffset)
        let stringsSize = header.version >= 3 ? Int(header.stringsSize) : 0
        nameIDAtStringOffset = [Int32](repeating: -1, count: stringsSize <= storage.count ? stringsSize : 0)
    }

    mutating func walk() throws(BlobError) {
        let fdt = storage.base
        var lastChild: [Int32] = []
        var openNodes: [Int32] = []   // node index at each depth
        var depth: Int32 = -1
        var offset: Int32 = -1
        while true {
            offset = fdt_next_node(fdt, offset, &depth)
            if offset == -FDT_ERR_NOTFOUND || (offset >= 0 && depth < 0) { break }
            guard offset >= 0 else { throw BlobError(libfdt: offset, "walking the nodes failed") }
            openNodes.removeLast(openNodes.count - min(Int(depth), openNodes.count))
            let index = Int32(nodes.count)
            let parent = openNodes.last ?? -1
            let name = try nodeName(offset)
            let path: String
            if parent < 0 { path = "/" } else {
                let parentPath = nodes[Int(parent)].path
                path = parentPath == "/" ? "/" + name : parentPath + "/" + name
            }
            var record = NodeRecord(
                offset: offset, parent: parent, firstProperty: Int32(properties.count), name: name, path: path)
            try readProperties(of: &record, index: index)
            nodes.append(record)
            lastChild.append(-1)
            if parent >= 0 {
                let previous = lastChild[Int(parent)]
                if previous < 0 { nodes[Int(parent)].firstChild = index } else { nodes[Int(previous)].nextSibling = index }
                lastChild[Int(parent)] = index
                nodes[Int(parent)].childCount += 1
            }
            openNodes.append(index)
        }
        guard !nodes.isEmpty else {
            throw BlobError(code: "FDT_ERR_BADSTRUCTURE", message: "the structure block has no root node")
        }
    }

    private func nodeName(_ offset: Int32) throws(BlobError) -> String {
        var length: Int32 = 0
        guard let name = fdt_get_name(storage.base, offset, &length), length >= 0 else {
            throw BlobError(libfdt: length, "the node at structure offset \(hex(offset)) has no readable name")
        }
        return String(decoding: UnsafeRawBufferPointer(start: name, count: Int(length)), as: UTF8.self)
    }

    private mutating func readProperties(of record: inout NodeRecord, index: Int32) throws(BlobError) {
        let fdt = storage.base
        var linuxPhandle: UInt32 = 0
        var offset = fdt_first_property_offset(fdt, record.offset)
        while offset >= 0 {
            var length: Int32 = 0
            var namePointer: UnsafePointer<CChar>? = nil
            guard let value = fdt_getprop_by_offset(fdt, offset, &namePointer, &length), let namePointer, length >= 0 else {
                throw BlobError(libfdt: length < 0 ? length : -FDT_ERR_BADSTRUCTURE,
                                "\(record.path): the property at structure offset \(hex(offset)) cannot be read")
            }
            let nameID = internName(namePointer)
            let valueOffset = UnsafeRawPointer(value) - storage.base
            properties.append(PropertyRecord(
                nameID: nameID, valueOffset: Int32(truncatingIfNeeded: valueOffset), length: length))
            record.propertyCount += 1
            if length == 4, nameID == phandleNameID || nameID == linuxPhandleNameID {
                let phandle = storage.bigEndianUInt32(at: valueOffset)
                // The first of duplicated properties counts, as for `property(_:)`.
                if nameID == phandleNameID { if record.phandle == 0 { record.phandle = phandle } }
                else if linuxPhandle == 0 { linuxPhandle = phandle }
            }
            offset = fdt_next_property_offset(fdt, offset)
        }
        guard offset == -FDT_ERR_NOTFOUND else {
            throw BlobError(libfdt: offset, "\(record.path): walking the properties failed")
        }
        if !isPhandle(record.phandle) { record.phandle = linuxPhandle }
        if isPhandle(record.phandle) {
            if let first = phandles[record.phandle] {
                duplicatedPhandles[record.phandle, default: [first]].append(index)
            } else {
                phandles[record.phandle] = index
            }
        } else {
            record.phandle = 0
        }
    }

    private func isPhandle(_ value: UInt32) -> Bool { value != 0 && value != 0xffff_ffff }

    private mutating func internName(_ pointer: UnsafePointer<CChar>) -> Int32 {
        let relative = UnsafeRawPointer(pointer) - storage.base - stringsStart
        if relative >= 0, relative < nameIDAtStringOffset.count, nameIDAtStringOffset[relative] >= 0 {
            return nameIDAtStringOffset[relative]
        }
        let name = String(cString: pointer)
        let id: Int32
        if let known = propertyNameIDs[name] {
            id = known
        } else {
            id = Int32(propertyNames.count)
            propertyNames.append(name)
            propertyNameIDs[name] = id
            if name == "phandle" { phandleNameID = id }
            if name == "linux,phandle" { linuxPhandleNameID = id }
        }
        if relative >= 0, relative < nameIDAtStringOffset.count { nameIDAtStringOffset[relative] = id }
        return id
    }
}
