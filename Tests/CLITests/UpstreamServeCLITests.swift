import Foundation
import SCMIClient
import TestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `serve --upstream` end to end (docs/host.md §8): a "firmware" `scmi-dt serve`
/// and a mediator `scmi-dt serve` in front of it over vhost-user, guests talking
/// to the mediator, the firmware's `status` and trace showing what reached it.
@Suite("serve --upstream against a firmware serve", .serialized)
struct UpstreamServeCLITests {
    /// The firmware: clock 0 an oscillator, clock 1 the GPU core, clock 2 a
    /// clock of its own the mediator's agent may not use; power domain 0 the
    /// GPU's. Its agent "host" (the host's own OS) is trusted: it may take
    /// permissions away from the mediator at run time.
    static let firmware = """
        /dts-v1/;
        / {
            #address-cells = <1>;
            #size-cells = <1>;
            osc: clock-24000000 { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <24000000>; };
            ccu: clock-controller@10000000 { compatible = "acme,ccu"; reg = <0x10000000 0x1000>; #clock-cells = <1>; };
            pmu: power-controller@10010000 { compatible = "acme,pmu"; reg = <0x10010000 0x1000>; #power-domain-cells = <1>; };
            firmware {
                scmi-vio-backend {
                    compatible = "arm,scmi-vio-backend";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    arm,scmi-vendor = "FW";
                    protocol@11 {
                        reg = <0x11>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        power-domain@0 { reg = <0>; power-domains = <&pmu 3>; label = "pd-gpu"; };
                    };
                    protocol@14 {
                        reg = <0x14>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        clock@0 { reg = <0>; clocks = <&osc>; label = "osc24m"; };
                        clock@1 { reg = <1>; clocks = <&ccu 2>; label = "gpu-core"; arm,scmi-rates = <200000000 400000000 800000000>; };
                        clock@2 { reg = <2>; clocks = <&ccu 9>; label = "secure"; arm,scmi-rates = <100000000>; };
                    };
                    devices {
                        #address-cells = <1>;
                        #size-cells = <0>;
                        dev_gpu: device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "gpu"; arm,scmi-clock-ids = <1 0>; arm,scmi-power-domain-ids = <0>; };
                        dev_secure: device@2 { reg = <2>; arm,scmi-devid = <2>; arm,scmi-devname = "secure"; arm,scmi-clock-ids = <2>; };
                    };
                    agents {
                        #address-cells = <1>;
                        #size-cells = <0>;
                        agent@1 { reg = <1>; arm,scmi-agent-name = "mediator"; arm,scmi-devices = <&dev_gpu>; };
                        agent@2 { reg = <2>; arm,scmi-agent-name = "host"; arm,scmi-devices = <&dev_gpu &dev_secure>; arm,scmi-trusted; };
                    };
                };
            };
        };
        """

    /// The mediator's board: its guests' clock 0 is the firmware's clock 1
    /// (whose rates only the firmware gives), clock 1 a PLL of the board's own
    /// (model); power domain 0 the firmware's 0. Two guests share the GPU.
    static let board = """
        /dts-v1/;
        / {
            #address-cells = <1>;
            #size-cells = <1>;
            pll: clock-controller@20000000 { compatible = "acme,pll"; reg = <0x20000000 0x1000>; #clock-cells = <1>; };
            gpu: gpu@30000000 { compatible = "acme,gpu"; reg = <0x30000000 0x1000>; clocks = <&scmi_clk 1>; };
            firmware {
                scmi {
                    compatible = "arm,scmi-virtio";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    scmi_pd: protocol@11 { reg = <0x11>; #power-domain-cells = <1>; };
                    scmi_clk: protocol@14 { reg = <0x14>; #clock-cells = <1>; };
                };
                scmi-vio-backend {
                    compatible = "arm,scmi-vio-backend";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    arm,scmi-vendor = "MEDIATOR";
                    protocol@11 {
                        reg = <0x11>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        power-domain@0 { reg = <0>; power-domains = <&scmi_pd 0>; label = "pd-gpu"; };
                    };
                    protocol@14 {
                        reg = <0x14>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        clock@0 { reg = <0>; clocks = <&scmi_clk 1>; label = "gpu-core"; };
                        clock@1 { reg = <1>; clocks = <&pll 0>; label = "audio-pll"; arm,scmi-rates = <12000000 24000000>; };
                    };
                    devices {
                        #address-cells = <1>;
                        #size-cells = <0>;
                        dev_gpu: device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "gpu"; arm,scmi-clock-ids = <0 1>; arm,scmi-power-domain-ids = <0>; };
                    };
                    agents {
                        #address-cells = <1>;
                        #size-cells = <0>;
                        agent@1 { reg = <1>; arm,scmi-agent-name = "vm-a"; arm,scmi-devices = <&dev_gpu>; };
                        agent@2 { reg = <2>; arm,scmi-agent-name = "vm-b"; arm,scmi-devices = <&dev_gpu>; };
                    };
                };
            };
        };
        """

    /// The firmware serve and a mediator serve with --upstream in front of it.
    final class Stack {
        let files: TemporaryDirectory
        let firmware: RunningServe
        let mediator: RunningServe

        /// `firmwareArguments`, `mediatorArguments`: more options for either serve.
        init(firmwareArguments: [String] = [], mediatorArguments: [String] = []) throws {
            files = try TemporaryDirectory("scmi-dt-upstream-cli")
            let firmwareBlob = try files.write("firmware.dtb", compileDTS(source: UpstreamServeCLITests.firmware))
            let boardBlob = try files.write("board.dtb", compileDTS(source: UpstreamServeCLITests.board))
            firmware = try RunningServe(blob: firmwareBlob, extraArguments: ["--trace"] + firmwareArguments)
            mediator = try RunningServe(
                blob: boardBlob, extraArguments: ["--upstream", "vhost-user:" + firmware.socket("mediator"), "--trace"] + mediatorArguments)
        }

        deinit {
            mediator.stop()
            firmware.stop()
            files.cleanup()
        }

        /// A resource of `table` in a serve's `status --format json`.
        static func row(_ serve: RunningServe, _ table: String, _ id: Int) throws -> [String: Any] {
            let rows = (try serve.status()["platform"] as? [String: Any])?[table] as? [[String: Any]] ?? []
            return rows.first { $0["id"] as? Int == id } ?? [:]
        }

        static func requesters(_ row: [String: Any]) -> [String] {
            (row["requests"] as? [[String: Any]] ?? []).compactMap { $0["agent_name"] as? String }
        }
    }

    /// Guests' changes reach the firmware on its ids, arbitrated once; a
    /// refusal comes back; reads are the firmware's; SIGTERM withdraws and
    /// applies everything before the mediator lets go of the firmware.
    @Test func aMediatorForwardsArbitratedChangesAndReleasesThemWhenStopped() throws {
        let stack = try Stack()
        let (firmware, mediator) = (stack.firmware, stack.mediator)
        #expect(mediator.log.contains("upstream vhost-user:\(firmware.socket("mediator")): serve is the firmware's agent 1"), "\(mediator.log)")

        let a = try mediator.connect("vm-a"), b = try mediator.connect("vm-b")
        try a.client.rateSet(0, rate: 800_000_000)
        try b.client.rateSet(0, rate: 400_000_000)  // lower: the firmware is not asked
        try a.client.enable(clock: 0)
        try b.client.enable(clock: 0)  // already on
        try a.client.powerStateSet(0, state: PowerState.on)

        // The firmware's status: its clock 1 and power domain 0, asked for by its agent "mediator" only.
        let gpu = try Stack.row(firmware, "clocks", 1)
        #expect(gpu["rate_hz"] as? Int == 800_000_000 && gpu["enabled"] as? Bool == true, "\(gpu)")
        #expect(Stack.requesters(gpu) == ["mediator"])
        #expect(Stack.requesters(try Stack.row(firmware, "clocks", 0)).isEmpty)
        #expect(try Stack.row(firmware, "power_domains", 0)["on"] as? Bool == true)
        // One command per change of the arbitrated state (the mediator's trace).
        let forwarded = mediator.log.split(separator: "\n").filter { $0.contains("upstream: clock 0 \"gpu-core\"") && !$0.contains(" read ") }
        #expect(forwarded.count == 2, "\(forwarded)")
        #expect(forwarded.first?.contains("rate 800000000 (firmware id 1; agent 1, request): SUCCESS") == true, "\(forwarded)")

        // The host's own agent at the firmware raises the rate: the guests read the hardware.
        let host = try firmware.connect("host")
        defer { host.leave() }
        try host.client.rateSet(1, rate: 800_000_000)
        try a.client.rateSet(0, rate: 200_000_000)  // vm-a lowers; vm-b's 400 MHz is the mediator's rate now
        #expect(try b.client.rateGet(0) == 800_000_000)  // the firmware's: the host holds 800 MHz
        #expect(try Stack.row(mediator, "clocks", 0)["rate_hz"] as? Int == 400_000_000)

        // The host takes the GPU away from the mediator at the firmware: a change the
        // firmware refuses reaches the guest as DENIED, rolled back; status says why.
        try host.client.setDevicePermissions(agent: 1, device: 1, allow: false)
        #expect(statusOf { try b.client.rateSet(0, rate: 800_000_000) } == .denied)
        #expect(try Stack.row(mediator, "clocks", 0)["rate_hz"] as? Int == 400_000_000)
        let status = try scmiDT("status", "--control", mediator.controlPath)
        #expect(status.stdout.contains("host failures (latest per resource)\nclock 0 \"gpu-core\": rate 800000000: the firmware answered DENIED (-3)"),
                "\(status.stdout)")
        try host.client.setDevicePermissions(agent: 1, device: 1, allow: true)
        #expect(try Stack.row(mediator, "clocks", 0)["host"] as? String == "upstream")
        #expect(try Stack.row(mediator, "clocks", 1)["host"] as? String == "model")

        // SIGTERM with both guests connected: their withdrawals reach the firmware as the
        // mediator's requests, before the mediator's own connection ends.
        #expect(mediator.stop() == 0)
        let lines = firmware.log.split(separator: "\n")
        let released = lines.firstIndex { $0.contains("physical: clock 1 \"gpu-core\" disabled (agent 1, request)") }
        let powerOff = lines.firstIndex { $0.contains("physical: power domain 0 \"pd-gpu\" off (agent 1, request)") }
        let gone = lines.lastIndex { $0.contains("agent 1 mediator: disconnected") }
        #expect(released != nil && powerOff != nil && gone != nil, "\(firmware.log)")
        if let released, let powerOff, let gone { #expect(released < gone && powerOff < gone) }
        #expect(try eventually { Stack.requesters(try Stack.row(firmware, "clocks", 1)) == ["host"] })
        #expect(try Stack.row(firmware, "power_domains", 0)["on"] as? Bool == false)
    }

    /// SIGHUP: the reloaded model serves the firmware's facts too, read over
    /// the link in use.
    @Test func aReloadServesTheFirmwaresFacts() throws {
        let stack = try Stack()
        let firmwareRates = RateDescription.discrete([200_000_000, 400_000_000, 800_000_000])
        #expect(try stack.mediator.asAgent("vm-a") { try $0.describeRates(0) } == firmwareRates)
        kill(stack.mediator.process.processIdentifier, SIGHUP)
        #expect(try eventually { stack.mediator.log.contains("reloaded; new connections use it") }, "\(stack.mediator.log)")
        #expect(try stack.mediator.asAgent("vm-a") { try $0.describeRates(0) } == firmwareRates)
        try stack.mediator.asAgent("vm-a") { try $0.rateSet(0, rate: 800_000_000) }
        #expect(stack.mediator.log.contains("rate 800000000 (firmware id 1; agent 1, request): SUCCESS"))
    }

    /// The firmware's notifications reach a subscribed guest of the mediator
    /// with the mediator's ids; those of the mediator's own changes come once.
    @Test func firmwareNotificationsReachTheMediatorsGuests() throws {
        let stack = try Stack()
        let guest = try Agent(socketPath: stack.mediator.socket("vm-a"), receivesEvents: true)
        defer { guest.leave() }
        try guest.client.subscribe(ClockMessage.rateNotify, resource: 0, enable: true)
        let host = try stack.firmware.connect("host")
        defer { host.leave() }
        let other = try stack.mediator.connect("vm-b")
        defer { other.leave() }

        try other.client.rateSet(0, rate: 400_000_000)  // the mediator's own change: notified by it
        try host.client.rateSet(1, rate: 800_000_000)  // the host's, at the firmware: passed on
        let first = try #require(guest.nextEvent())
        let second = try #require(guest.nextEvent())
        #expect(PlatformMessageText.describe(first) == "notification CLOCK_RATE_CHANGED agent=2 clock=0 rate=400000000")
        #expect(PlatformMessageText.describe(second) == "notification CLOCK_RATE_CHANGED agent=0 clock=0 rate=800000000")
        #expect(guest.nextEvent(timeoutMilliseconds: 300) == nil)
    }

    /// A firmware that answers late: GENERIC_ERROR after --upstream-timeout,
    /// rolled back, and the mediator goes on serving.
    @Test func aLateFirmwareIsGenericErrorAndNothingHangs() throws {
        let files = try TemporaryDirectory("scmi-dt-upstream-hook")
        defer { files.cleanup() }
        let hook = try files.write("slow.sh", "#!/bin/sh\n[ \"$SCMI_VALUE\" != 800000000 ] || sleep 2\nexit 0\n")
        chmod(hook, 0o755)
        let stack = try Stack(firmwareArguments: ["--host-hook", hook, "--host-hook-timeout", "5s"], mediatorArguments: ["--upstream-timeout", "300ms"])
        let a = try stack.mediator.connect("vm-a")
        defer { a.leave() }
        #expect(statusOf { try a.client.rateSet(0, rate: 800_000_000) } == .genericError)
        #expect(try Stack.row(stack.mediator, "clocks", 0)["rate_hz"] as? Int == 200_000_000)
        #expect(stack.mediator.log.contains("rate 800000000 (firmware id 1; agent 1, request): no reply within 300 ms"), "\(stack.mediator.log)")
        // The model clock never waited; the firmware's clock works again once the firmware has caught up.
        try a.client.rateSet(1, rate: 24_000_000)
        #expect(try eventually { stack.firmware.log.contains("physical: clock 1 \"gpu-core\" rate 200000000 Hz -> 800000000 Hz") })
        try a.client.rateSet(0, rate: 400_000_000)
        #expect(try Stack.row(stack.firmware, "clocks", 1)["rate_hz"] as? Int == 400_000_000)
    }

    /// A board resource the firmware will not let serve use: serve does not
    /// start, and says which (as guests see it, as the firmware knows it).
    @Test func aResourceTheFirmwareRefusesStopsServe() throws {
        let files = try TemporaryDirectory("scmi-dt-upstream-cli")
        defer { files.cleanup() }
        let firmware = try RunningServe(blob: files.write("firmware.dtb", compileDTS(source: Self.firmware)))
        let board = Self.board.replacingOccurrences(
            of: "clock@1 { reg = <1>;",
            with: "clock@2 { reg = <2>; clocks = <&scmi_clk 2>; label = \"secure\"; };\n clock@1 { reg = <1>;")
            .replacingOccurrences(of: "arm,scmi-clock-ids = <0 1>;", with: "arm,scmi-clock-ids = <0 1 2>;")
        let blob = try files.write("board.dtb", compileDTS(source: board))
        let result = try scmiDT("serve", blob, "--socket-dir", files.path("run"), "--upstream", "vhost-user:" + firmware.socket("mediator"))
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("clock 2 \"secure\" (firmware clock 2 of /firmware/scmi): the firmware answers DENIED"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: files.path("run/vm-a.sock")))
        let unreachable = try scmiDT("serve", blob, "--socket-dir", files.path("run"), "--upstream", "vhost-user:" + files.path("nobody.sock"))
        #expect(unreachable.status == 2 && unreachable.stderr.contains("cannot reach the firmware"), "\(unreachable.output)")
    }

    /// The firmware goes away and comes back: the mediator's firmware resources
    /// fail meanwhile, its own keep working, and what it had set is set again.
    @Test func theMediatorSurvivesTheFirmwareRestarting() throws {
        let stack = try Stack()
        let (firmware, mediator) = (stack.firmware, stack.mediator)
        let a = try mediator.connect("vm-a")
        try a.client.rateSet(0, rate: 400_000_000)
        try a.client.enable(clock: 0)
        let firmwareBlob = stack.files.path("firmware.dtb")

        #expect(firmware.stop() == 0)
        #expect(try eventually { mediator.log.contains("upstream vhost-user:\(firmware.socket("mediator")) lost") })
        #expect(statusOf { try a.client.rateSet(0, rate: 800_000_000) } == .genericError)
        #expect(statusOf { _ = try a.client.rateGet(0) } == .genericError)
        try a.client.rateSet(1, rate: 24_000_000)
        #expect(try a.client.rateGet(1) == 24_000_000)

        // The same firmware again, on the same sockets.
        let again = Process()
        again.executableURL = URL(fileURLWithPath: scmiDTBinary)
        let control = stack.files.path("firmware-again.control")
        again.arguments = ["serve", firmwareBlob, "--socket-dir", firmware.socketDirectory, "--control", control]
        again.standardError = FileHandle.nullDevice
        try again.run()
        defer {
            kill(again.processIdentifier, SIGTERM)
            again.waitUntilExit()
        }
        #expect(try eventually { mediator.log.contains("is back: 2 commands re-applied the physical state") }, "\(mediator.log)")
        let report = try scmiDT("status", "--control", control, "--format", "json")
        let clocks = ((try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])?["platform"] as? [String: Any])?["clocks"]
        let gpu = (clocks as? [[String: Any]] ?? []).first { $0["id"] as? Int == 1 } ?? [:]
        #expect(gpu["rate_hz"] as? Int == 400_000_000 && gpu["enabled"] as? Bool == true, "\(report.output)")
        try a.client.rateSet(0, rate: 800_000_000)
        #expect(try a.client.rateGet(0) == 800_000_000)
    }
}
