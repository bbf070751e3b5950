import DeviceTree

/// Reports, anywhere in the tree, what dtc refuses to write but libfdt reads without a word:
/// a property repeated in a node, sibling nodes of the same name, a phandle claimed twice, a
/// name with characters dtc rejects. Every reader (this one included) sees only the first of
/// repeated names, so without these errors a second `arm,scmi-devid` or a second `devices`
/// node would be silently ignored. Real boards never have them (the corpus of kernel blobs
/// checks clean), so they are errors wherever they are, not only in the backend.
enum TreeIntegrity {
    /// At most this many findings per rule are listed, then one that counts the rest: each
    /// finding names a path, which costs the node's depth, so listing every defect of a corrupt
    /// deep tree would make the output quadratic in the blob's size.
    static let listedPerRule = 20

    static func report(_ tree: FlattenedDeviceTree, into findings: inout DiagnosticCollector) {
        var listed: [Rule: Int] = [:]
        /// Adds the finding `make` describes unless `rule` has had its share; counts it either way.
        func add(_ rule: Rule, _ make: () -> (node: DeviceTreeNode, property: String?, message: String, hint: String)) {
            listed[rule, default: 0] += 1
            guard listed[rule]! <= listedPerRule else { return }
            let finding = make()
            findings.add(rule, at: finding.node, property: finding.property, finding.message, hint: finding.hint)
        }

        for defect in tree.defects {
            switch defect.kind {
            case .duplicateProperty:
                add(.propertyDuplicate) {
                    (defect.node, defect.property,
                     "property '\(printable(defect.property ?? ""))' appears more than once in this node; every reader sees only the first",
                     "remove or rename the repeated property (dtc rejects duplicate property names)")
                }
            case .duplicateNode(let first):
                add(.nodeDuplicate) {
                    (defect.node, nil,
                     "a second node named '\(printable(defect.node.name))' here (structure offset \(hex(defect.node.offset)); the first is at \(hex(first.offset))): "
                        + "lookups by path find only the first, so nothing in this one is used",
                     "merge the two nodes or rename one (dtc rejects duplicate node names)")
                }
            case .nodeNameCharacters:
                add(.nameCharacters) {
                    (defect.node, nil, defect.problem, "rename the node as dtc would accept it: name@unit-address")
                }
            case .propertyNameCharacters:
                add(.nameCharacters) {
                    (defect.node, defect.property, defect.problem, "rename the property as dtc would accept it")
                }
            }
        }
        for (phandle, claimants) in tree.duplicatePhandles.sorted(by: { $0.key < $1.key }) {
            let first = claimants[0]
            for node in claimants.dropFirst() {
                add(.phandleDuplicate) {
                    (node, node.hasProperty("phandle") ? "phandle" : "linux,phandle",
                     "phandle \(hex(phandle)) is also claimed by \(first.path); every reference to it resolves to that node",
                     "give each node its own phandle (dtc assigns them from labels)")
                }
            }
        }
        for (rule, count) in listed.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where count > listedPerRule {
            findings.add(rule, at: "/", "\(count - listedPerRule) more \(rule.id) findings not listed (the first \(listedPerRule) are)")
        }
    }
}
