import SCMIUpstream
import Testing

@Suite struct UpstreamAddressTests {
    @Test func parsesBothTransports() {
        #expect(UpstreamAddress(parsing: "raw:/sys/kernel/debug/scmi/0/raw") == .raw(directory: "/sys/kernel/debug/scmi/0/raw"))
        #expect(UpstreamAddress(parsing: "vhost-user:/run/fw.sock") == .vhostUser(path: "/run/fw.sock"))
        #expect(UpstreamAddress(parsing: "vhost-user:/run/fw.sock")?.description == "vhost-user:/run/fw.sock")
    }

    @Test func refusesOtherForms() {
        for text in ["", "raw:", "vhost-user:", "/run/fw.sock", "tcp:1.2.3.4", "RAW:/x"] {
            #expect(UpstreamAddress(parsing: text) == nil, "\(text)")
        }
    }
}
