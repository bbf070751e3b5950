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
        for word in ["<id>", "<hz>", "<rounding>", "--socket <socket>", "--hold <hold>", "down, up, nearest"] {
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
        #expect(levelSet.stdout.contains("<id> <microvolts>"))
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
        #expect(fast.stderr.contains("'fast'") && fast.stderr.contains("<hz>"), "\(fast.stderr)")
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
        #expect(chained.stderr.contains("clock.rate-set") && chained.stderr.contains("<hz>"), "\(chained.stderr)")
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
}
