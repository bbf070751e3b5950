import Foundation
import Synchronization
import TestKit
import Testing

/// `scmi-dt call`'s typed subcommands: argument-parser's generated help and usage errors,
/// the typed form against a running serve, and the chained form (`call --socket S
/// clock.enable 2 + …`) that README, scripts/demo.sh and the guest suite use.
@Suite struct CallCLITests {
    /// Every command names its arguments in its own help; the groups list their commands.
    @Test func generatedHelp() throws {
        let rateSet = try scmiDT("call", "clock", "rate-set", "--help")
        #expect(rateSet.status == 0)
        for word in ["<id>", "<rate>", "<rounding>", "--socket <socket>", "--hold <hold>", "down, up, nearest"] {
            #expect(rateSet.stdout.contains(word), "\(word) missing from:\n\(rateSet.stdout)")
        }
        let clock = try scmiDT("call", "clock", "--help")
        #expect(clock.status == 0)
        for command in ["list", "rates", "rate-get", "rate-set", "enable", "disable", "state"] {
            #expect(clock.stdout.contains("  \(command) "), "\(command) missing from:\n\(clock.stdout)")
        }
        let call = try scmiDT("call", "--help")
        #expect(call.status == 0)
        for group in ["chain (default)", "base", "clock", "voltage", "raw"] {
            #expect(call.stdout.contains(group), "\(group) missing from:\n\(call.stdout)")
        }
        let levelSet = try scmiDT("call", "voltage", "level-set", "--help")
        #expect(levelSet.stdout.contains("<id> <level>"))
        let allow = try scmiDT("call", "base", "allow-protocol", "--help")
        #expect(allow.stdout.contains("<agent> <device> <protocol>"))
    }

    /// A bad or missing argument is a usage error (exit 64) naming the argument, before
    /// any connection is made (the socket here does not exist).
    @Test func usageErrorsNameTheArgument() throws {
        let directory = try TemporaryDirectory("scmi-dt-call-usage")
        defer { directory.cleanup() }
        let nowhere = directory.path("nobody.sock")
        let fast = try scmiDT("call", "clock", "rate-set", "2", "fast", "--socket", nowhere)
        #expect(fast.status == 64)
        #expect(fast.stderr.contains("'fast'") && fast.stderr.contains("<rate>"), "\(fast.stderr)")
        let rounding = try scmiDT("call", "clock", "rate-set", "2", "1000", "sideways", "--socket", nowhere)
        #expect(rounding.status == 64)
        #expect(rounding.stderr.contains("<rounding>"), "\(rounding.stderr)")
        let missing = try scmiDT("call", "clock", "enable", "--socket", nowhere)
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("<id>"), "\(missing.stderr)")
        let noSocket = try scmiDT("call", "clock", "enable", "2")
        #expect(noSocket.status == 64)
        #expect(noSocket.stderr.contains("--socket"), "\(noSocket.stderr)")
        // The chained form parses each command with the same parser.
        let chained = try scmiDT("call", "--socket", nowhere, "clock.enable", "2", "+", "clock.rate-set", "2", "fast")
        #expect(chained.status == 64)
        #expect(chained.stderr.contains("clock.rate-set") && chained.stderr.contains("<rate>"), "\(chained.stderr)")
        let unknown = try scmiDT("call", "--socket", nowhere, "clock.explode", "2")
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("unknown command 'clock.explode'"), "\(unknown.stderr)")
    }

    /// The typed form and the chained form against a running serve; 0x-hex numbers as before.
    @Test func typedAndChainedCommands() throws {
        let serve = try RunningServe()
        let ivi = serve.socket("vm-ivi")
        let set = try scmiDT("call", "clock", "rate-set", "2", "300000000", "--socket", ivi)
        #expect(set.status == 0, "\(set.output)")
        #expect(set.stdout.contains("clock 2 now runs at 300000000 Hz"))
        let rates = try scmiDT("call", "clock", "rates", "0x2", "--socket", ivi)
        #expect(rates.status == 0, "\(rates.output)")
        #expect(rates.stdout.hasPrefix("range: ") || rates.stdout.hasPrefix("discrete: "))
        let agent = try scmiDT("call", "base", "agent", "2", "--socket", serve.socket("vm-admin"))
        #expect(agent.stdout == "agent 2 \"vm-cluster\"\n")

        // Dotted and spaced names mix in one chain; each answer follows its "> command" line.
        let chain = try scmiDT(
            "call", "--socket", ivi, "clock.enable", "2", "+", "clock", "state", "2", "+", "voltage.level-set", "1", "800000")
        #expect(chain.status == 0, "\(chain.output)")
        #expect(chain.stdout == "> clock.enable 2\nok\n> clock state 2\non\n> voltage.level-set 1 800000\nok; domain 1 now at 800000 uV\n")
        let explicit = try scmiDT("call", "chain", "--socket", ivi, "base.agent")
        #expect(explicit.stdout == "agent 1 \"vm-ivi\"\n")

        let denied = try scmiDT("call", "clock", "rate-set", "0", "1000000", "--socket", serve.socket("vm-cluster"))
        #expect(denied.status == 1)
        #expect(denied.stderr.contains("DENIED"))
        let nowhere = try scmiDT("call", "base", "info", "--socket", serve.directory.path("nobody.sock"))
        #expect(nowhere.status == 2)
    }

    /// Agents by name or id in every agent argument: the names the platform gives in
    /// BASE_DISCOVER_AGENT; an unknown one lists those it has.
    @Test func agentsByName() throws {
        let serve = try RunningServe()
        let admin = serve.socket("vm-admin")
        let byName = try scmiDT("call", "base", "agent", "vm-cluster", "--socket", admin)
        #expect(byName.stdout == "agent 2 \"vm-cluster\"\n", "\(byName.output)")
        // vm-cluster may not use device 1 (usb0) until vm-admin, trusted, grants it by name.
        #expect(try scmiDT("call", "clock", "rate-get", "0", "--socket", serve.socket("vm-cluster")).status == 1)
        let grant = try scmiDT("call", "--socket", admin, "base.allow-device", "vm-cluster", "1")
        #expect(grant.status == 0, "\(grant.output)")
        #expect(try scmiDT("call", "clock", "rate-get", "0", "--socket", serve.socket("vm-cluster")).status == 0)
        let unknown = try scmiDT("call", "base", "reset-agent", "vm-nobody", "--socket", admin)
        #expect(unknown.status != 0 && unknown.status != 1)
        #expect(unknown.stderr.contains("no agent 'vm-nobody'; the platform's agents: vm-ivi (1), vm-cluster (2), vm-admin (3)"), "\(unknown.output)")
    }

    /// Clocks and voltage domains by name or id, rates and levels with units; what `list`
    /// shows is labelled: this agent's own request, and the physical (arbitrated) value.
    @Test func resourcesByNameAndUnits() throws {
        let serve = try RunningServe()
        let ivi = serve.socket("vm-ivi")
        let set = try scmiDT("call", "clock", "rate-set", "ccu-gpu-core", "600MHz", "--socket", ivi)
        #expect(set.status == 0, "\(set.output)")
        #expect(set.stdout == "ok; clock 2 now runs at 600000000 Hz\n")
        let chain = try scmiDT(
            "call", "--socket", ivi, "clock.rate-set", "2", "0.5GHz", "+", "clock.rate-get", "ccu-gpu-core",
            "+", "voltage.level-set", "vdd-gpu", "0.9V", "+", "voltage.level-set", "1", "812.5mV", "+", "voltage.level-get", "vdd-gpu",
            "+", "voltage.level-set", "vdd-gpu", "700000uV", "+", "voltage.level-set", "vdd-gpu", "750000")
        #expect(chain.status == 0, "\(chain.output)")
        #expect(chain.stdout.contains("> clock.rate-get ccu-gpu-core\n500000000 Hz\n"), "\(chain.stdout)")
        #expect(chain.stdout.contains("> voltage.level-set vdd-gpu 0.9V\nok; domain 1 now at 900000 uV\n"), "\(chain.stdout)")
        #expect(chain.stdout.contains("> voltage.level-get vdd-gpu\n812500 uV\n"), "\(chain.stdout)")
        #expect(chain.stdout.contains("> voltage.level-set vdd-gpu 700000uV\nok; domain 1 now at 700000 uV\n"), "\(chain.stdout)")
        #expect(chain.stdout.hasSuffix("ok; domain 1 now at 750000 uV\n"), "\(chain.stdout)")

        for rate in ["600MHzz", "1.5Hz", "1.0000000001GHz", "MHz"] {
            let refused = try scmiDT("call", "clock", "rate-set", "2", rate, "--socket", ivi)
            #expect(refused.status == 64 && refused.stderr.contains("'\(rate)' is invalid for '<rate>'"), "\(refused.output)")
        }
        let tooHigh = try scmiDT("call", "voltage", "level-set", "1", "2148V", "--socket", ivi)
        #expect(tooHigh.status == 64 && tooHigh.stderr.contains("is invalid for '<level>'"), "\(tooHigh.output)")
        let unknown = try scmiDT("call", "clock", "enable", "ccu-nothing", "--socket", ivi)
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("no clock 'ccu-nothing' for this agent; its clocks: ccu-usb-core (0), osc24m (1), ccu-gpu-core (2)"), "\(unknown.output)")

        // vm-ivi votes clock 2 on and stays; vm-cluster's list shows its own request (off)
        // beside the physical rate, and says which column is which.
        let holder = try serve.connect("vm-ivi")
        defer { holder.leave() }
        try holder.client.enable(clock: 2)
        let list = try scmiDT("call", "clock", "list", "--socket", serve.socket("vm-cluster"))
        #expect(list.status == 0, "\(list.output)")
        let lines = list.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "clocks as this agent sees them: 'requested' is its own on/off request, 'physical' the arbitrated rate")
        #expect(lines.dropFirst().first?.split(separator: " ", omittingEmptySubsequences: true).prefix(4).joined(separator: " ") == "id name requested physical")
        let gpu = lines.first { $0.contains("ccu-gpu-core") }?.split(separator: " ", omittingEmptySubsequences: true).map(String.init) ?? []
        let physical = try serve.clock(2)
        #expect(physical["enabled"] as? Bool == true, "physically on, by vm-ivi's vote")
        #expect(gpu.count >= 4 && gpu[2] == "off" && gpu[3] == String(physical["rate_hz"] as? Int ?? -1), "\(list.stdout)")
        let voltages = try scmiDT("call", "voltage", "list", "--socket", serve.socket("vm-cluster"))
        #expect(voltages.stdout.hasPrefix("voltage domains as this agent sees them: 'requested' is its own on/off request, 'physical' the arbitrated level\n"), "\(voltages.output)")
    }

    /// `perf` and `sensor` against the example: the CPU cluster's levels, a level
    /// clamped by this agent's limits, a constant sensor, a level off the list.
    @Test func performanceAndSensorCommands() throws {
        let serve = try RunningServe()
        let ivi = serve.socket("vm-ivi")
        let levels = try scmiDT("call", "perf", "levels", "0", "--socket", ivi)
        #expect(levels.stdout == "600000 (cost 180000, 300 us), 1000000 (cost 350000, 300 us), 1400000 (cost 620000, 300 us), 1800000 (cost 1000000, 300 us)\n")
        let chain = try scmiDT("call", "--socket", ivi, "perf.level-set", "0", "1400000", "+", "perf.limits-set", "0", "600000", "1000000", "+", "perf", "limits-get", "0")
        #expect(chain.status == 0, "\(chain.output)")
        #expect(chain.stdout.contains("ok; domain 0 now at 1400000 kHz\n"))
        #expect(chain.stdout.contains("ok; limits 600000..1000000 kHz, domain 0 at 1000000 kHz\n"))
        #expect(chain.stdout.hasSuffix("> perf limits-get 0\n600000..1000000 kHz\n"))
        let offList = try scmiDT("call", "perf", "level-set", "0", "700000", "--socket", ivi)
        #expect(offList.status == 1 && offList.stderr.contains("OUT_OF_RANGE"))
        let cluster = serve.socket("vm-cluster")
        let read = try scmiDT("call", "sensor", "read", "0", "--socket", cluster)
        #expect(read.stdout == "45500 x10^-3 degC\n", "\(read.output)")
        let off = try scmiDT("call", "--socket", cluster, "sensor.disable", "0", "+", "sensor.config-get", "0")
        #expect(off.stdout.hasSuffix("off\n"), "\(off.output)")
        let help = try scmiDT("call", "--help")
        for group in ["perf", "sensor"] { #expect(help.stdout.contains(group)) }
    }

    /// `call --listen`: vm-ivi's call subscribes to clock 2 and listens; once
    /// `status` shows the subscription, vm-cluster changes the rate; the
    /// listener prints the decoded CLOCK_RATE_CHANGED naming vm-cluster, and
    /// the withdrawal when vm-cluster's call ends.
    @Test func listenPrintsNotifications() throws {
        let serve = try RunningServe()
        let control = serve.directory.path("control.sock")
        let listener = Mutex<ToolResult?>(nil)
        let done = DispatchSemaphore(value: 0)
        let ivi = serve.socket("vm-ivi")
        DispatchQueue.global().async {
            let result = try? scmiDT("call", "--socket", ivi, "--listen", "8", "clock.notify", "on", "2")
            listener.withLock { $0 = result }
            done.signal()
        }
        #expect(try eventually { try scmiDT("status", "--control", control).stdout.contains("CLOCK_RATE_CHANGED 2") })
        let set = try scmiDT("call", "clock", "rate-set", "2", "500000000", "--socket", serve.socket("vm-cluster"))
        #expect(set.status == 0, "\(set.output)")
        done.wait()
        let result = try #require(listener.withLock { $0 })
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout == """
            ok; rate-changed notifications of clock 2 on
            notification CLOCK_RATE_CHANGED agent=2 clock=2 rate=500000000
            notification CLOCK_RATE_CHANGED agent=2 clock=2 rate=1000000

            """)
    }

    /// `call --listen` with a sensor trip point: vm-cluster's call arms trip
    /// point 0 of the host-file sensor at 50 °C (both ways), subscribes and
    /// listens; once `status` shows the subscription, the test moves the
    /// host file across 50 °C (back and forth, since the poller's first
    /// reading only sets where the value stands) until the listener ends.
    @Test func listenPrintsSensorTripPoints() throws {
        let directory = try TemporaryDirectory("scmi-dt-trip")
        defer { directory.cleanup() }
        let file = try directory.write("board-temp", "20000\n")
        let source = try String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)
            .replacingOccurrences(of: "/tmp/scmi-dt-example/board-temp", with: file)
        let serve = try RunningServe(blob: directory.write("board.dtb", compileDTS(source: source)))
        let listener = Mutex<ToolResult?>(nil)
        let done = DispatchSemaphore(value: 0)
        let cluster = serve.socket("vm-cluster")
        DispatchQueue.global().async {
            let result = try? scmiDT("call", "--socket", cluster, "--listen", "8",
                                     "sensor.trip-point", "1", "0", "50000", "both", "+", "sensor.notify", "on", "1", "trip-point")
            listener.withLock { $0 = result }
            done.signal()
        }
        #expect(try eventually { try scmiDT("status", "--control", serve.controlPath).stdout.contains("SENSOR_TRIP_POINT_EVENT 1") })
        var hot = true
        while done.wait(timeout: .now() + 0.7) == .timedOut {
            _ = try directory.write("board-temp", hot ? "60000\n" : "20000\n")
            hot.toggle()
        }
        let result = try #require(listener.withLock { $0 })
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.hasPrefix("""
            > sensor.trip-point 1 0 50000 both
            ok; sensor 1 trip point 0 at 50000 both
            > sensor.notify on 1 trip-point
            ok; trip-point notifications of sensor 1 on

            """), "\(result.output)")
        #expect(result.stdout.contains("notification SENSOR_TRIP_POINT_EVENT agent=0 sensor=1 trip=0 direction=up\n"), "\(result.output)")
        #expect(result.stdout.contains("notification SENSOR_TRIP_POINT_EVENT agent=0 sensor=1 trip=0 direction=down\n"), "\(result.output)")
    }
}
