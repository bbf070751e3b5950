import Foundation
import SCMIClient
import Synchronization
import Testing

/// `call power …` and `call reset …` against a running serve of the example,
/// where vm-ivi (gpu) and vm-cluster (display) share power domain 0 and reset
/// domain 0; and `status` showing each agent's request.
@Suite struct CallPowerResetCLITests {
    @Test func generatedHelp() throws {
        let power = try scmiDT("call", "power", "--help")
        for command in ["list", "attributes", "on", "off", "get", "notify"] {
            #expect(power.stdout.contains("  \(command) "), "\(command) missing from:\n\(power.stdout)")
        }
        let reset = try scmiDT("call", "reset", "--help")
        for command in ["list", "attributes", "assert", "deassert", "pulse", "notify"] {
            #expect(reset.stdout.contains("  \(command) "), "\(command) missing from:\n\(reset.stdout)")
        }
        #expect(try scmiDT("call", "--help").stdout.contains("power"))
        #expect(try scmiDT("call", "reset", "pulse", "--help").stdout.contains("--async"))
    }

    /// `call --listen` with power and reset: vm-ivi subscribes to the shared
    /// domain and line, pulses the line asynchronously and listens; vm-cluster
    /// switches the domain on, asserts and releases the line, and leaves. The
    /// listener prints its RESET_COMPLETE and, decoded, what vm-cluster did.
    @Test func listenPrintsPowerAndResetNotifications() throws {
        let serve = try RunningServe()
        let listener = Mutex<ToolResult?>(nil)
        let done = DispatchSemaphore(value: 0)
        let ivi = serve.socket("vm-ivi")
        DispatchQueue.global().async {
            let result = try? scmiDT("call", "--socket", ivi, "--listen", "8", "power.notify", "on", "0", "+",
                                     "reset.notify", "on", "0", "+", "reset.pulse", "0", "--async")
            listener.withLock { $0 = result }
            done.signal()
        }
        #expect(try eventually { try scmiDT("status", "--control", serve.controlPath).stdout.contains("RESET_ISSUED 0") })
        let cluster = try scmiDT("call", "--socket", serve.socket("vm-cluster"), "power.on", "0", "+", "reset.assert", "0", "+", "reset.deassert", "0")
        #expect(cluster.status == 0, "\(cluster.output)")
        done.wait()
        let result = try #require(listener.withLock { $0 })
        #expect(result.status == 0, "\(result.output)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("ok; RESET_COMPLETE follows on the eventq"), "\(result.output)")
        #expect(lines.contains { $0.hasPrefix("delayed response RESET token ") && $0.hasSuffix(": SUCCESS (0) domain=0") }, "\(result.output)")
        #expect(lines.filter { $0.hasPrefix("notification ") } == [
            "notification POWER_STATE_CHANGED agent=2 domain=0 state=on",
            "notification RESET_ISSUED agent=2 domain=0 reset_state=0",
            "notification POWER_STATE_CHANGED agent=2 domain=0 state=off",
        ], "\(result.output)")
    }

    @Test func powerDomainSharedByTwoAgents() throws {
        let serve = try RunningServe()
        let ivi = serve.socket("vm-ivi"), cluster = serve.socket("vm-cluster")
        let list = try scmiDT("call", "power", "list", "--socket", cluster)
        #expect(list.status == 0, "\(list.output)")
        let rows = list.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(rows.contains("0 power-controller-0x3 off") && rows.contains("1 power-controller-0x4 off"), "\(list.stdout)")
        let ivisList = try scmiDT("call", "power", "list", "--socket", ivi).stdout
        #expect(ivisList.contains("power-controller-0x4  DENIED"), "\(ivisList)")
        let denied = try scmiDT("call", "power", "on", "1", "--socket", ivi)
        #expect(denied.status == 1 && denied.stderr.contains("DENIED"), "\(denied.output)")

        // vm-ivi holds domain 0 on; vm-cluster's own request stays off, then it votes too.
        let holder = try serve.connect("vm-ivi")
        defer { holder.leave() }
        try holder.client.powerStateSet(0, state: 0)
        let chain = try scmiDT("call", "--socket", cluster, "power.get", "0", "+", "power.on", "power-controller-0x3", "+", "power.get", "0", "--hold", "0")
        #expect(chain.status == 0, "\(chain.output)")
        #expect(chain.stdout == "> power.get 0\noff\n> power.on power-controller-0x3\nok\n> power.get 0\non\n", "\(chain.stdout)")
        // vm-cluster left: withdrawn; vm-ivi's vote keeps the domain on.
        let domain = try serve.row("power_domains", 0)
        #expect(domain["on"] as? Bool == true)
        #expect((domain["requests"] as? [[String: Any]])?.compactMap { $0["agent_name"] as? String } == ["vm-ivi"], "\(domain)")

        let attributes = try scmiDT("call", "power", "attributes", "0", "--socket", cluster)
        #expect(attributes.stdout.contains("synchronous set: yes\n") && attributes.stdout.contains("asynchronous set: no\n"), "\(attributes.output)")
    }

    @Test func resetLineSharedByTwoAgents() throws {
        let serve = try RunningServe()
        let ivi = serve.socket("vm-ivi"), cluster = serve.socket("vm-cluster")
        let list = try scmiDT("call", "reset", "list", "--socket", ivi)
        #expect(list.stdout.contains("clock-controller-0x7  unknown"), "\(list.output)")

        // vm-cluster holds the line asserted; vm-ivi's pulse leaves it asserted.
        let holder = try serve.connect("vm-cluster")
        try holder.client.reset(0, .assert)
        let pulse = try scmiDT("call", "reset", "pulse", "clock-controller-0x7", "--socket", ivi)
        #expect(pulse.status == 0 && pulse.stdout == "ok\n", "\(pulse.output)")
        var line = try serve.row("reset_domains", 0)
        #expect(line["asserted"] as? Bool == true, "\(line)")
        let text = try scmiDT("status", "--control", serve.controlPath).stdout
        #expect(text.contains("reset domains (physical state; each agent's request)"), "\(text)")
        #expect(text.contains("clock-controller-0x7  asserted    vm-cluster: asserted"), "\(text)")

        // vm-cluster goes away: its assertion is released.
        holder.leave()
        #expect(try eventually { try serve.row("reset_domains", 0)["asserted"] as? Bool == false })
        let chain = try scmiDT("call", "--socket", ivi, "reset.assert", "0", "+", "reset.deassert", "0")
        #expect(chain.status == 0, "\(chain.output)")
        line = try serve.row("reset_domains", 0)
        #expect(line["asserted"] as? Bool == false)
        let denied = try scmiDT("call", "reset", "assert", "1", "--socket", ivi)
        #expect(denied.status == 1 && denied.stderr.contains("DENIED"), "\(denied.output)")
    }
}

extension RunningServe {
    /// Row `id` of the status report's table `key` (power_domains, reset_domains).
    func row(_ key: String, _ id: Int) throws -> [String: Any] {
        let rows = (try status()["platform"] as? [String: Any])?[key] as? [[String: Any]] ?? []
        return rows.first { $0["id"] as? Int == id } ?? [:]
    }
}
