import BackendModel
import Foundation
import LinuxIO
import Logging
import SCMIClient
import SCMIPlatform
import ServeRuntime
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// serve --host-hook (README, "Host hooks"): real shell scripts run as the
/// hook of an in-process serve on the example board, real clients. Clock 2 is
/// ccu-gpu-core (/soc/clock-controller@10000000 cell 2), which vm-ivi may use.
@Suite struct HookHostTests {
    /// A serve whose host is a HookHost running `script` (written into its
    /// directory as hook.sh), with `timeout`.
    final class HookedServe {
        let scripts: TemporaryDirectory
        let hook: HookHost
        let serve: InProcessServe

        init(_ script: String, timeout: Int64 = 20_000_000_000, board: String = "board.dts") throws {
            scripts = try TemporaryDirectory("scmi-dt-hook")
            let program = try scripts.write("hook.sh", Array(script.replacingOccurrences(of: "$DIR", with: scripts.url.path).utf8))
            chmod(program, 0o755)
            let blob = try compileDTS(file: examplePath(board))
            let checked = try scripts.write("board.dtb", blob)
            let tables = try #require(BackendChecker.check(blobAt: checked).tables)
            let logger = Logger(label: "hook-tests") { _ in SwiftLogNoOpLogHandler() }
            hook = try HookHost(HookHost.Configuration(program: program, timeoutNanoseconds: timeout), tables: tables, logger: logger)
            serve = try InProcessServe(blob: blob, host: hook)
        }

        func file(_ name: String) -> String { (try? String(contentsOfFile: scripts.path(name), encoding: .utf8)) ?? "" }

        /// vm-ivi asks for clock 2 at 400 MHz: HARDWARE_ERROR, and the rate
        /// stays the initial 1 MHz; then `then` on the same connection.
        func expectRateOfClock2Refused(then: (SCMIClient) throws -> Void = { _ in }) throws {
            let connection = try serve.connect("vm-ivi")
            defer { connection.leave() }
            #expect(statusOf { try connection.client.rateSet(2, rate: 400_000_000) } == .hardwareError)
            #expect(try connection.client.rateGet(2) == 1_000_000)
            try then(connection.client)
        }

        deinit { scripts.cleanup() }
    }

    @Test func theProgramGetsItsArgumentsAndExactlyTheDocumentedEnvironment() throws {
        // Exactly these variables: nothing else of this process's environment
        // (HOME, the test runner's own; HookCLITests sets a marker in serve's).
        let hooked = try HookedServe("""
            #!/bin/sh
            echo "$*" >> $DIR/arguments
            tr '\\0' '\\n' < /proc/$$/environ | sort > $DIR/environment
            """)
        let connection = try hooked.serve.connect("vm-ivi")
        defer { connection.leave() }
        try connection.client.rateSet(2, rate: 400_000_000)
        #expect(try connection.client.rateGet(2) == 400_000_000)
        #expect(hooked.file("arguments") == "clock 2 rate 400000000\n")
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        #expect(hooked.file("environment").split(separator: "\n").map(String.init) == [
            "PATH=" + path, "SCMI_ACTION=rate", "SCMI_AGENT=vm-ivi", "SCMI_HOST_CELLS=2",
            "SCMI_HOST_PATH=/soc/clock-controller@10000000", "SCMI_ID=2", "SCMI_KIND=clock",
            "SCMI_NAME=ccu-gpu-core", "SCMI_VALUE=400000000",
        ])
        // An action without a value passes an empty VALUE.
        try connection.client.enable(clock: 2)
        #expect(hooked.file("arguments") == "clock 2 rate 400000000\nclock 2 enable \n")
        #expect(hooked.file("environment").contains("SCMI_ACTION=enable\n") && hooked.file("environment").contains("SCMI_VALUE=\n"))
    }

    @Test func aFailingProgramGivesHardwareErrorAndTheStateStaysAsBefore() throws {
        let hooked = try HookedServe("""
            #!/bin/sh
            [ "$SCMI_VALUE" = 500000000 ] || [ "$SCMI_ACTION" = disable ] || exit 0
            echo "the PLL did not lock" >&2
            exit 3
            """)
        do {
            let connection = try hooked.serve.connect("vm-ivi")
            defer { connection.leave() }
            let client = connection.client
            try client.enable(clock: 2)
            try client.rateSet(2, rate: 400_000_000)
            #expect(statusOf { try client.rateSet(2, rate: 500_000_000) } == .hardwareError)
            #expect(try client.rateGet(2) == 400_000_000)
            #expect(statusOf { try client.disable(clock: 2) } == .hardwareError)
            #expect(try client.clockConfigGet(2) == true)
            // The agent's request was rolled back too: status shows the old one.
            let row = try #require(hooked.serve.server.statusReport().platform.resources(of: .clock).first { $0.id == 2 })
            #expect(row.value == 400_000_000 && row.on == true)
            #expect(row.requests.map(\.value) == [400_000_000])
            // status (before this guest leaves and its withdrawal runs the hook again).
            let failures = try #require(hooked.serve.server.statusReport().hostFailures)
            #expect(failures == ["clock 2 \"ccu-gpu-core\": disable: exit status 3"])
        }
    }

    @Test func aProgramKilledByASignalGivesHardwareError() throws {
        let hooked = try HookedServe("""
            #!/bin/sh
            kill -KILL $$
            """)
        try hooked.expectRateOfClock2Refused()
        #expect(hooked.hook.lastFailures == ["clock 2 \"ccu-gpu-core\": rate: killed by signal 9"])
    }

    @Test func aProgramStillRunningAtTheTimeoutIsKilledReapedAndServeGoesOn() throws {
        let hooked = try HookedServe("""
            #!/bin/sh
            [ "$SCMI_ID" = 2 ] || exit 0
            echo $$ > $DIR/pid
            exec sleep 60
            """, timeout: 200_000_000)
        try hooked.expectRateOfClock2Refused { client in
            // Other resources are served as before.
            try client.rateSet(0, rate: 200_000_000)
            #expect(try client.rateGet(0) == 200_000_000)
        }
        // Killed and reaped: no such process any more (a zombie would still answer kill 0).
        let pid = try #require(pid_t(hooked.file("pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
        #expect(hooked.hook.lastFailures == ["clock 2 \"ccu-gpu-core\": rate: still running at the timeout (killed)"])
    }

    /// Two agents race on one clock while the program is slow to refuse one
    /// of them: whichever goes first, the refused request is rolled back and
    /// the other one stands, in the engine and in the order the host saw.
    @Test func twoAgentsRacingOnAResourceWhileItsActionIsSlow() throws {
        let hooked = try HookedServe("""
            #!/bin/sh
            echo "$SCMI_AGENT $SCMI_ACTION $SCMI_VALUE" >> $DIR/log
            [ "$SCMI_VALUE" = 500000000 ] || exit 0
            sleep 0.3
            exit 1
            """)
        let ivi = try hooked.serve.connect("vm-ivi"), cluster = try hooked.serve.connect("vm-cluster")
        defer {
            ivi.leave()
            cluster.leave()
        }
        try ivi.client.enable(clock: 2)
        try cluster.client.enable(clock: 2)
        let refused = Mutex<SCMIStatus?>(nil)
        // The racer is the only user of vm-ivi's connection until `refused` is set.
        nonisolated(unsafe) let racing = ivi.client
        let racer = Thread {
            let status = statusOf { try racing.rateSet(2, rate: 500_000_000) }
            refused.withLock { $0 = status }
        }
        racer.start()
        try cluster.client.rateSet(2, rate: 300_000_000)
        #expect(eventually { refused.withLock { $0 } != nil })
        #expect(refused.withLock { $0 } == .hardwareError)
        #expect(try ivi.client.rateGet(2) == 300_000_000)
        let row = try #require(hooked.serve.server.statusReport().platform.resources(of: .clock).first { $0.id == 2 })
        #expect(row.value == 300_000_000 && row.requests.compactMap(\.value) == [300_000_000])
        // The host saw the 500 MHz attempt either before or after the 300 MHz change, never both at once.
        let log = hooked.file("log").split(separator: "\n").map(String.init)
        #expect(log.prefix(1) == ["vm-ivi enable "])
        #expect(Set(log.dropFirst()) == ["vm-ivi rate 500000000", "vm-cluster rate 300000000"])
    }

    @Test func aSensorReadTakesTheDecimalIntegerTheProgramPrints() throws {
        let hooked = try HookedServe("""
            #!/bin/sh
            case $SCMI_ID in
                0) echo " 45500" ;;
                1) echo "hot" ;;
                *) echo 12; exit 1 ;;
            esac
            """)
        #expect(hooked.hook.readSensor(0, agent: 1) == 45500)
        #expect(hooked.hook.readSensor(1, agent: 1) == nil)  // junk
        #expect(hooked.hook.readSensor(7, agent: 1) == nil)  // no such sensor
        #expect(hooked.hook.lastFailures == ["sensor 1 \"board-temp\": read: printed no decimal integer on standard output"])
    }

    /// examples/firmware-board.dts: sensor 0 is the firmware's (`arm,scmi-sensor`),
    /// with no reading of its own. With a hook and no upstream, a guest's
    /// SENSOR_READING_GET runs the hook's `read`, for the asking agent.
    @Test func aFirmwareSensorIsReadThroughTheHook() throws {
        let hooked = try HookedServe("""
            #!/bin/sh
            echo "$1 $2 $3 $SCMI_AGENT" >> "$DIR/reads.log"
            [ "$3" = read ] && echo 61250
            """, board: "firmware-board.dts")
        let connection = try hooked.serve.connect("vm-gpu")
        defer { connection.leave() }
        #expect(try connection.client.sensorRead(0) == 61250)
        #expect(hooked.file("reads.log") == "sensor 0 read vm-gpu\n")
    }

    @Test func megabytesOnStandardErrorNeitherBlockNorAreKept() throws {
        // 8 MB, far more than a pipe holds: a program the hook did not drain would block and time out.
        let script = """
            #!/bin/sh
            head -c 8000000 /dev/zero | tr '\\0' x >&2
            [ "$SCMI_ACTION" = rate ]
            """
        let hooked = try HookedServe(script)
        do {
            let connection = try hooked.serve.connect("vm-ivi")
            defer { connection.leave() }
            let client = connection.client
            try client.rateSet(2, rate: 400_000_000)
            #expect(statusOf { try client.enable(clock: 2) } == .hardwareError)
        }
        let program = hooked.scripts.path("hook.sh")
        let outcome = ChildProcess.run(program, arguments: [program, "clock", "2", "enable", ""], environment: [],
                                       timeoutNanoseconds: 20_000_000_000)
        #expect(outcome.ending == .exited(1))
        #expect(outcome.errors.count == 4096 && outcome.errors.allSatisfy { $0 == UInt8(ascii: "x") })
    }

    @Test func aMissingOrNonExecutableProgramIsRefusedByName() throws {
        let directory = try TemporaryDirectory("scmi-dt-hook")
        defer { directory.cleanup() }
        let plain = try directory.write("plain.sh", Array("#!/bin/sh\n".utf8))
        #expect(throws: HookHost.ProgramError.self) { try HookHost.validate(program: plain) }
        do { try HookHost.validate(program: plain) } catch { #expect(error.description == "--host-hook \(plain): not executable") }
        let missing = directory.path("missing")
        do { try HookHost.validate(program: missing) } catch {
            #expect(error.description == "--host-hook \(missing): No such file or directory")
        }
        // A program that vanishes after start: the action fails, nothing hangs.
        let outcome = ChildProcess.run(missing, arguments: [missing], environment: [], timeoutNanoseconds: 20_000_000_000)
        #expect(outcome.ending == .notStarted(errno: ENOENT))
    }

    @Test func durations() {
        #expect(parseDuration("2s") == 2_000_000_000)
        #expect(parseDuration("500ms") == 500_000_000)
        #expect(parseDuration("1.5s") == 1_500_000_000)
        #expect(parseDuration("250us") == 250_000)
        #expect(parseDuration("2") == nil && parseDuration("0s") == nil && parseDuration("-1s") == nil && parseDuration("fast") == nil)
    }
}

/// examples/hooks/linux-sysfs.sh run as the hook, against a temporary
/// directory laid out like the sysfs files its table names (a stand-in for
/// /sys, which a test cannot write), with a fake `gpioset` first on PATH that
/// records its arguments.
@Suite struct LinuxSysfsHookTests {
    @Test func theExampleHookWritesTheFilesItsTableNames() throws {
        let root = try TemporaryDirectory("scmi-dt-sysfs")
        defer { root.cleanup() }
        let policy = "sys/devices/system/cpu/cpufreq/policy0/"
        let devfreq = "sys/class/devfreq/10040000.gpu/"
        let consumer = "sys/devices/platform/vdd-gpu-consumer/"
        let gpu = "sys/devices/platform/soc/10040000.gpu/power/"
        for directory in [policy, devfreq, consumer, gpu, "bin/"] {
            try FileManager.default.createDirectory(atPath: root.path(directory), withIntermediateDirectories: true)
        }
        for (file, value) in [(policy + "scaling_setspeed", "600000"), (devfreq + "min_freq", "1000000"),
                              (devfreq + "max_freq", "1000000000"), (consumer + "state", "disabled"), (gpu + "control", "auto")] {
            _ = try root.write(file, Array((value + "\n").utf8))
        }
        let gpioset = try root.write("bin/gpioset", Array("#!/bin/sh\necho \"$*\" >> \(root.path("gpioset.log"))\n".utf8))
        chmod(gpioset, 0o755)
        // serve passes only PATH: a wrapper sets the sysfs root and the fake gpioset's PATH.
        let example = examplePath("hooks/linux-sysfs.sh")
        let wrapper = """
            #!/bin/sh
            PATH=\(root.path("bin")):$PATH SYSFS_ROOT=\(root.url.path) exec \(example) "$@"
            """
        let hooked = try HookHostTests.HookedServe(wrapper)
        func read(_ file: String) -> String {
            ((try? String(contentsOfFile: root.path(file), encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        do {
            let connection = try hooked.serve.connect("vm-ivi")
            defer { connection.leave() }
            let client = connection.client
            try client.performanceLevelSet(0, level: 1_400_000)  // kHz: cpufreq's unit
            #expect(read(policy + "scaling_setspeed") == "1400000")
            try client.rateSet(2, rate: 400_000_000)  // the GPU clock: devfreq, min and max pinned
            #expect(read(devfreq + "min_freq") == "400000000" && read(devfreq + "max_freq") == "400000000")
            try client.rateSet(2, rate: 200_000_000)
            #expect(read(devfreq + "min_freq") == "200000000" && read(devfreq + "max_freq") == "200000000")
            try client.reset(0, .pulse)  // the GPU's reset line, active low: driven 0 then 1
            #expect(read("gpioset.log") == "gpiochip0 17=0\ngpiochip0 17=1")
            try client.voltageOn(1)  // vdd-gpu: a reg-userspace-consumer
            #expect(read(consumer + "state") == "enabled")
            try client.powerStateSet(0, state: PowerState.on)  // the GPU's power domain: runtime PM
            #expect(read(gpu + "control") == "on")
        }
        // The guest left: its requests are withdrawn through the hook (the
        // CPU back at its initial 600 MHz) before the next part.
        #expect(eventually { read(policy + "scaling_setspeed") == "600000" })
        // A file the table names but the board lacks: the guest gets HARDWARE_ERROR.
        try FileManager.default.removeItem(atPath: root.path(policy + "scaling_setspeed"))
        do {
            let connection = try hooked.serve.connect("vm-ivi")
            defer { connection.leave() }
            let client = connection.client
            #expect(statusOf { try client.performanceLevelSet(0, level: 1_800_000) } == .hardwareError)
        }
        #expect(hooked.hook.lastFailures == ["perf-domain 0 \"cpu-cluster\": level: exit status 1"])
    }
}
