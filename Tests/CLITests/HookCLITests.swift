import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `scmi-dt serve --host-hook` as a user runs it: the built binary, a real
/// script as the hook, `call` and `status` as the user types them.
@Suite struct HookCLITests {
    @Test func aHookThatIsMissingOrNotExecutableStopsServeNamingIt() throws {
        let directory = try TemporaryDirectory("scmi-dt-hook-cli")
        defer { directory.cleanup() }
        let blob = try directory.write("board.dtb", compileDTS(file: examplePath("board.dts")))
        let plain = try directory.write("hook.sh", "#!/bin/sh\nexit 0\n")  // mode 0644
        let missing = directory.path("no-such-hook")
        for (program, reason) in [(plain, "not executable"), (missing, "No such file or directory")] {
            let result = try scmiDT("serve", blob, "--socket-dir", directory.path("run"), "--host-hook", program)
            #expect(result.status == 2)
            #expect(result.stderr.contains("serve: --host-hook \(program): \(reason)"), "\(result.output)")
            #expect(!FileManager.default.fileExists(atPath: directory.path("run/vm-ivi.sock")))
        }
        let badTimeout = try scmiDT("serve", blob, "--socket-dir", directory.path("run"), "--host-hook", plain, "--host-hook-timeout", "soon")
        #expect(badTimeout.status != 0 && badTimeout.stderr.contains("--host-hook-timeout 'soon'"))
    }

    @Test func serveRunsTheHookForEachChangeAndRefusesWhatItRefuses() throws {
        let hooks = try TemporaryDirectory("scmi-dt-hook-cli")
        defer { hooks.cleanup() }
        let log = hooks.path("hook.log")
        let program = try hooks.write("hook.sh", """
            #!/bin/sh
            echo "$* agent=$SCMI_AGENT marker=${SCMI_DT_MARKER:-absent}" >> \(log)
            [ "$SCMI_VALUE" != 500000000 ] || { echo "rate 500 MHz not supported by this PLL" >&2; exit 1; }
            """)
        chmod(program, 0o755)
        let serve = try RunningServe(
            extraArguments: ["--host-hook", program, "--host-hook-timeout", "10s", "--trace"],
            environment: ["SCMI_DT_MARKER": "leaked"])
        let set = try scmiDT("call", "--socket", serve.socket("vm-ivi"), "clock.enable", "2", "+", "clock.rate-set", "2", "300000000")
        #expect(set.status == 0, "\(set.output)")
        // Each `call` is a guest that leaves: its requests are withdrawn, through the hook too.
        let withdrawn = { try eventually { (try serve.clock(2)["requests"] as? [Any])?.isEmpty == true } }
        #expect(try withdrawn())
        let refused = try scmiDT("call", "--socket", serve.socket("vm-ivi"), "clock.rate-set", "2", "500000000")
        #expect(refused.status == 1 && refused.stderr.contains("HARDWARE_ERROR"), "\(refused.output)")
        let rate = try scmiDT("call", "--socket", serve.socket("vm-ivi"), "clock.rate-get", "2")
        #expect(rate.stdout.contains("1000000 Hz"), "\(rate.output)")

        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines == [
            "clock 2 enable  agent=vm-ivi marker=absent",
            "clock 2 rate 300000000 agent=vm-ivi marker=absent",
            "clock 2 disable  agent=vm-ivi marker=absent",
            "clock 2 rate 1000000 agent=vm-ivi marker=absent",
            "clock 2 rate 500000000 agent=vm-ivi marker=absent",
        ])
        let status = try scmiDT("status", "--control", serve.controlPath)
        #expect(status.stdout.contains("host failures (latest per resource)\nclock 2 \"ccu-gpu-core\": rate: exit status 1"), "\(status.stdout)")
        #expect(serve.stop() == 0)
        // --trace: each action with its outcome; a failure with the program's stderr.
        #expect(serve.log.contains("host hook: clock 2 \"ccu-gpu-core\" rate 300000000: applied in "), "\(serve.log)")
        #expect(serve.log.contains("host hook: clock 2 \"ccu-gpu-core\" rate 500000000 (agent vm-ivi): exit status 1 after "))
        #expect(serve.log.contains("; stderr: rate 500 MHz not supported by this PLL"))
    }

    /// SIGTERM while a host action is in flight: the action finishes (or
    /// times out), the departing guest's requests are withdrawn through the
    /// hook, serve exits 0 and leaves no hook process running.
    @Test func sigtermWhileAHostActionIsInFlight() throws {
        let hooks = try TemporaryDirectory("scmi-dt-hook-cli")
        defer { hooks.cleanup() }
        let program = try hooks.write("hook.sh", """
            #!/bin/sh
            echo "$$ $*" >> \(hooks.path("hook.log"))
            [ "$SCMI_VALUE" != 300000000 ] || { touch \(hooks.path("started")); sleep 1; }
            """)
        chmod(program, 0o755)
        let serve = try RunningServe(extraArguments: ["--host-hook", program, "--host-hook-timeout", "20s"])
        let guest = Process()
        guest.executableURL = URL(fileURLWithPath: scmiDTBinary)
        guest.arguments = ["call", "--socket", serve.socket("vm-ivi"), "clock.enable", "2", "+", "clock.rate-set", "2", "300000000"]
        guest.standardOutput = FileHandle.nullDevice
        guest.standardError = FileHandle.nullDevice
        try guest.run()
        #expect(eventually { FileManager.default.fileExists(atPath: hooks.path("started")) })
        #expect(serve.stop() == 0, "\(serve.log)")
        guest.waitUntilExit()
        let lines = ((try? String(contentsOfFile: hooks.path("hook.log"), encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.map { $0.split(separator: " ", maxSplits: 1)[1] } == [
            "clock 2 enable ", "clock 2 rate 300000000", "clock 2 disable ", "clock 2 rate 1000000",
        ])
        // No hook process is left running.
        for pid in lines.compactMap({ pid_t($0.split(separator: " ")[0]) }) {
            #expect(kill(pid, 0) == -1 && errno == ESRCH)
        }
    }
}
