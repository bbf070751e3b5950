@testable import BackendModel
import Testing
import DeviceTree

/// How the reader turns device nodes into descriptions: each specifier list sized by its own
/// provider's `#…-cells`, names and supplies as written (BackendReader reads them by position
/// in the property index and remembers the last provider of each list).
@Suite struct DeviceReadingTests {
    func device(_ body: String, id: Int) -> String {
        "device@\(id) { arm,scmi-devid = <\(id)>; arm,scmi-devname = \"d\(id)\"; \(body) };"
    }

    @Test func everyEntryIsSizedByItsOwnProvider() throws {
        let devices = [
            device("clocks = <&ccu 2>;", id: 0), device("clocks = <&osc24m>, <&ccu 1>;", id: 1),
            device("clocks = <&pair 7 8>;", id: 2), device("clocks = <&ccu 0>; resets = <&ccu 4>;", id: 3),
        ]
        let result = try check(
            tree(
                backend: backend(devices: devices.joined(separator: "\n")),
                host: "pair: clock-pair { #clock-cells = <2>; clock-output-names = \"p\"; };"))
        let backend = try #require(result.backend, "\(result.summaryText)")
        #expect(backend.devices.map { $0.direct.clocks.map(\.cells) } == [[[2]], [[], [1]], [[7, 8]], [[0]]])
        #expect(backend.devices.map { $0.direct.clocks.map(\.provider.path) }[1] == ["/clock-24000000", "/clock-controller@10000000"])
        #expect(backend.devices[3].direct.resets.map(\.cells) == [[4]])
    }

    @Test func aProviderOfOneListIsNotTakenForAProviderOfAnother() throws {
        // The clock controller has #clock-cells but no #reset-cells: device 1's clocks read, device 2's resets do not.
        let devices = [device("clocks = <&clocks_only 3>;", id: 1), device("resets = <&clocks_only 1>;", id: 2)]
        let result = try check(
            tree(backend: backend(devices: devices.joined(separator: "\n")), host: "clocks_only: clocks-only { #clock-cells = <1>; };"))
        #expect(result.has(.providerCellsMissing, at: devicesPath + "/device@2", property: "resets"), "\(result.summaryText)")
        #expect(!result.has(.providerCellsMissing, at: devicesPath + "/device@1"))
        let backend = try #require(result.backend)
        #expect(backend.devices.map { $0.direct.clocks.map(\.cells) } == [[[3]], []])
        #expect(backend.devices[1].direct.resets.isEmpty && backend.devices[1].direct.namesResources)
    }

    @Test func namesAndSuppliesAreReadInPropertyOrder() throws {
        let body = "io-supply = <&reg_io>; clocks = <&ccu 0>, <&ccu 1>; clock-names = \"bus\", \"core\"; vdd-supply = <&reg_a>;"
        let result = try check(tree(backend: backend(devices: device(body, id: 1))))
        let device = try #require(result.backend?.devices.first, "\(result.summaryText)")
        #expect(device.clockNames == ["bus", "core"] && device.direct.clockNames == ["bus", "core"])
        #expect(device.direct.supplies.map(\.name) == ["io", "vdd"])
        #expect(device.direct.supplies.map(\.regulator.path) == ["/regulator-io", "/regulator-a"])
        #expect(device.direct.consumerName == "d1")
    }

    @Test func aBaseDeviceIsReadForTheDeviceThatNamesItOnly() throws {
        let devices = [device("arm,scmi-basedev = <&gpu>;", id: 1), device("clocks = <&ccu 0>;", id: 2)]
        let result = try check(tree(backend: backend(devices: devices.joined(separator: "\n"))))
        let backend = try #require(result.backend, "\(result.summaryText)")
        let basedev = try #require(backend.devices[0].basedev)
        #expect(basedev.node.path == "/gpu@13000000" && basedev.consumerName == "gpu")
        #expect(basedev.clocks.map(\.cells) == [[2]] && basedev.resets.map(\.cells) == [[5]])
        #expect(basedev.supplies.map(\.name) == ["mali"] && basedev.powerDomains.map(\.cells) == [[1]])
        #expect(backend.devices[0].direct.isEmpty && backend.devices[1].basedev == nil)
    }

    @Test func aBaseDeviceSetOnOneCopyStaysWithThatCopy() throws {
        let devices = [device("arm,scmi-basedev = <&gpu>;", id: 1), device("clocks = <&ccu 0>;", id: 2)]
        let backend = try #require(try check(tree(backend: backend(devices: devices.joined(separator: "\n")))).backend)
        var withBase = backend.devices[1]
        withBase.basedev = backend.devices[0].basedev
        withBase.basedev?.consumerName = "renamed"
        #expect(withBase.basedev?.node.path == "/gpu@13000000" && withBase.basedev?.consumerName == "renamed")
        #expect(backend.devices[0].basedev?.consumerName == "gpu" && backend.devices[1].basedev == nil)
        var withoutBase = backend.devices[0]
        withoutBase.basedev = nil
        #expect(withoutBase.basedev == nil && backend.devices[0].basedev != nil)
        #expect(withoutBase.direct.consumerName == "d1" && withoutBase.id == 1 && withoutBase.name == "d1")
    }

    @Test func resetsAndPowerDomainsAreKeptWithTheirNamesAndApart() throws {
        let body = "resets = <&ccu 4>, <&ccu 5>; reset-names = \"bus\", \"core\"; power-domains = <&pd 1>; power-domain-names = \"main\";"
        let result = try check(tree(backend: backend(devices: device(body, id: 1) + device("clocks = <&ccu 0>;", id: 2))))
        let backend = try #require(result.backend, "\(result.summaryText)")
        var first = backend.devices[0].direct
        #expect(first.resets.map(\.cells) == [[4], [5]] && first.resetNames == ["bus", "core"])
        #expect(first.powerDomains.map(\.cells) == [[1]] && first.powerDomainNames == ["main"])
        let second = backend.devices[1].direct
        #expect(second.resets.isEmpty && second.powerDomains.isEmpty && second.resetNames.isEmpty && second.powerDomainNames.isEmpty)
        // Each list is set on its own, and a copy keeps what it had.
        let copy = first
        first.resets = []
        first.powerDomainNames = ["other"]
        #expect(first.resets.isEmpty && first.resetNames == ["bus", "core"] && first.powerDomainNames == ["other"])
        #expect(first.powerDomains.map(\.cells) == [[1]] && !first.isEmpty)
        #expect(copy.resets.map(\.cells) == [[4], [5]] && copy.powerDomainNames == ["main"])
        var empty = NodeResources(node: second.node)
        empty.resetNames = []
        #expect(empty.isEmpty && empty.resetNames.isEmpty)
        empty.powerDomains = copy.powerDomains
        #expect(!empty.isEmpty && empty.powerDomains.map(\.provider.path) == copy.powerDomains.map(\.provider.path))
    }

    @Test func anAgentListsADeviceOnceAndEveryAgentForItself() throws {
        let devices = ["d1: " + device("clocks = <&ccu 0>;", id: 1), "d2: " + device("clocks = <&ccu 1>;", id: 2)]
        let agents = """
            agent@1 { reg = <1>; arm,scmi-agent-name = "a"; arm,scmi-devices = <&d1 &d2 &d1>; };
            agent@2 { reg = <2>; arm,scmi-agent-name = "b"; arm,scmi-devices = <&d2 &d1 &d2>; };
            """
        let result = try check(tree(backend: backend(devices: devices.joined(separator: "\n"), agents: agents)))
        let backend = try #require(result.backend, "\(result.summaryText)")
        #expect(backend.agents.map(\.devices) == [[1, 2], [2, 1]])
    }

    /// A large backend's devices are read by two threads, a half each, and kept or dropped
    /// afterwards in tree order. What is kept and what is reported must be what one thread reading
    /// them one by one makes of them: an id or a name repeated across the halves or within one,
    /// a dropped device's findings on its own values (kept) and on its resources (not), a kept
    /// device's findings on its resources. With `repeatedName` false no two names are equal, which
    /// spares the admission recording names; with it true they are recorded.
    @Test(arguments: [false, true]) func twoThreadsKeepAndReportWhatOneThreadDoes(repeatedName: Bool) throws {
        let count = BackendReader.parallelReadThreshold + 100
        let half = count / 2
        var devices = (0..<count).map { device("clocks = <&ccu \($0 % 5)>;", id: $0) }
        // A devid that is not the unit address, in the first half: reported, kept.
        devices[3] = "device@3 { arm,scmi-devid = <\(count + 3)>; arm,scmi-devname = \"d3\"; };"
        // The second half repeats device 7's id (and so differs from its own unit address): both reported, dropped.
        devices[half + 1] = "device@\(half + 1) { arm,scmi-devid = <7>; arm,scmi-devname = \"again7\"; clocks = <0xdead>; };"
        // A kept device whose clock does not resolve: reported.
        devices[half + 2] = "device@\(half + 2) { arm,scmi-devid = <\(half + 2)>; arm,scmi-devname = \"d\(half + 2)\"; clocks = <0xbeef>; };"
        if repeatedName {
            // Device 10's name across the halves, and a name repeated within the second half, each
            // with a clock that does not resolve, which a dropped device does not report.
            devices[half + 5] = "device@\(half + 5) { arm,scmi-devid = <\(half + 5)>; arm,scmi-devname = \"d10\"; clocks = <0xdead>; };"
            devices[half + 7] = "device@\(half + 7) { arm,scmi-devid = <\(half + 7)>; arm,scmi-devname = \"d\(half + 6)\"; clocks = <0xdead>; };"
            // The id of a device dropped for its name is free: this one, after it, is kept.
            devices[half + 9] = "device@\(half + 9) { arm,scmi-devid = <\(half + 5)>; arm,scmi-devname = \"freed\"; };"
        }
        let blob = try compileDTS(tree(backend: backend(devices: devices.joined(separator: "\n"))))
        let tree = try FlattenedDeviceTree(bytes: blob)
        let backendNode = try #require(tree.node(atPath: backendPath))
        func read(parallelFrom: Int) -> (devices: [String], findings: [String]) {
            var reader = BackendReader(backend: backendNode, file: "test.dtb", parallelFrom: parallelFrom)
            let description = reader.read()
            return (
                description.devices.map { "\($0.path) \($0.id) \($0.name) \($0.direct.clocks.map(\.description))" },
                reader.findings.diagnostics.map(\.renderedWithHint)
            )
        }
        let one = read(parallelFrom: .max)
        let two = read(parallelFrom: BackendReader.parallelReadThreshold)
        #expect(two.devices == one.devices)
        #expect(two.findings == one.findings)

        let dropped = repeatedName ? [half + 1, half + 5, half + 7] : [half + 1]
        #expect(two.devices.count == count - dropped.count)
        for index in dropped { #expect(!two.devices.contains { $0.hasPrefix(devicesPath + "/device@\(index) ") }) }
        func reports(_ rule: Rule, _ index: Int) -> Bool {
            two.findings.contains { $0.contains("\(devicesPath)/device@\(index):") && $0.contains("[\(rule.id)]") }
        }
        #expect(reports(.unitAddressMismatch, 3) && reports(.unitAddressMismatch, half + 1))
        #expect(reports(.devidDuplicate, half + 1) && !reports(.phandleDangling, half + 1))
        #expect(reports(.phandleDangling, half + 2))
        #expect(reports(.devnameDuplicate, half + 5) == repeatedName && reports(.devnameDuplicate, half + 7) == repeatedName)
        #expect(!reports(.phandleDangling, half + 5) || !repeatedName)
        if repeatedName { #expect(two.devices.contains { $0.hasPrefix(devicesPath + "/device@\(half + 9) \(half + 5) freed") }) }
    }
}
