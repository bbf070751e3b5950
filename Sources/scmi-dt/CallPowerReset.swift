import ArgumentParser
import SCMIClient

// `call power …` (0x11) and `call reset …` (0x16): the generic resource
// commands of CallCommand.swift with the words and client calls of each.

struct CallPower: ParsableCommand, CallSwitchedKind, CallAttributesKind, CallNotifyingKind {
    static let configuration = CommandConfiguration(
        commandName: "power",
        abstract: "Power domain protocol (0x11).",
        subcommands: [
            CallResourceList<Self>.self, CallResourceAttributes<Self>.self,
            CallResourceSwitch<Self, VoteOn>.self, CallResourceSwitch<Self, VoteOff>.self, CallResourceState<Self>.self,
            CallResourceNotify<Self>.self,
        ]
    )

    static let noun = "domain"
    static let plural = "power domains"
    static let list = CommandConfiguration(commandName: "list", abstract: "Every power domain: name and this agent's state.")
    static let attributes = CommandConfiguration(commandName: "attributes", abstract: "POWER_DOMAIN_ATTRIBUTES: what the domain offers.")
    static let on = CommandConfiguration(commandName: "on", abstract: "POWER_STATE_SET: ask for the domain on (generic ON).")
    static let off = CommandConfiguration(commandName: "off", abstract: "POWER_STATE_SET: ask for the domain off (generic OFF).")
    static let state = CommandConfiguration(commandName: "get", abstract: "POWER_STATE_GET: on or off (this agent's request).")

    static let listIntroduction = "power domains as this agent sees them: 'requested' is its own state (POWER_STATE_GET); the domain is on while any agent wants it on"
    static let listHeadings = ["requested"]
    static func listCells(_ client: SCMIClient, _ id: UInt32) throws -> [String] {
        [try attempt({ try isOn(client, id) }) { $0 ? "on" : "off" }]
    }

    static func count(_ client: SCMIClient) throws -> Int { try client.powerDomainCount() }
    static func name(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let attributes = try client.powerDomainAttributes(id)
        return attributes.hasExtendedName ? try client.powerDomainName(id) : attributes.name
    }
    static func isOn(_ client: SCMIClient, _ id: UInt32) throws -> Bool { try client.powerStateGet(id) == PowerState.on }
    static var events: [(name: String, subscribe: (SCMIClient, UInt32, Bool) throws -> Void)] { [
        ("state-changed", { try $0.subscribe(PowerDomainMessage.stateNotify, resource: $1, enable: $2) }),
    ] }
    static func switchTo(_ on: Bool, _ client: SCMIClient, _ id: UInt32) throws {
        try client.powerStateSet(id, state: on ? PowerState.on : PowerState.off)
    }
    static func attributeLines(_ client: SCMIClient, _ id: UInt32) throws -> [String] {
        let attributes = try client.powerDomainAttributes(id)
        return [
            "attributes: 0x" + String(attributes.rawAttributes, radix: 16),
            "synchronous set: " + yesNo(attributes.supportsSyncSet),
            "asynchronous set: " + yesNo(attributes.supportsAsyncSet),
            "state-change notifications: " + yesNo(attributes.notifiesStateChanges),
            "extended name: " + yesNo(attributes.hasExtendedName),
        ]
    }
}

struct CallReset: ParsableCommand, CallAttributesKind, CallNotifyingKind {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Reset domain protocol (0x16).",
        subcommands: [
            CallResourceList<Self>.self, CallResourceAttributes<Self>.self,
            Send<Assert>.self, Send<Deassert>.self, Send<Pulse>.self, CallResourceNotify<Self>.self,
        ]
    )

    static let noun = "domain"
    static let plural = "reset domains"
    static let list = CommandConfiguration(commandName: "list", abstract: "Every reset domain: name and latency.")
    static let attributes = CommandConfiguration(commandName: "attributes", abstract: "RESET_DOMAIN_ATTRIBUTES: what the domain offers.")

    static let listIntroduction = "reset domains as this agent sees them (SCMI has no command that reads a reset's state: `scmi-dt status` shows it)"
    static let listHeadings = ["latency"]
    static func listCells(_ client: SCMIClient, _ id: UInt32) throws -> [String] {
        [latency(try client.resetDomainAttributes(id).latencyMicroseconds)]
    }

    static func count(_ client: SCMIClient) throws -> Int { try client.resetDomainCount() }
    static var events: [(name: String, subscribe: (SCMIClient, UInt32, Bool) throws -> Void)] { [
        ("issued", { try $0.subscribe(ResetMessage.notify, resource: $1, enable: $2) }),
    ] }
    static func name(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let attributes = try client.resetDomainAttributes(id)
        return attributes.hasExtendedName ? try client.resetDomainName(id) : attributes.name
    }
    static func attributeLines(_ client: SCMIClient, _ id: UInt32) throws -> [String] {
        let attributes = try client.resetDomainAttributes(id)
        return [
            "attributes: 0x" + String(attributes.rawAttributes, radix: 16),
            "latency: " + latency(attributes.latencyMicroseconds),
            "asynchronous reset: " + yesNo(attributes.supportsAsyncReset),
            "reset notifications: " + yesNo(attributes.notifiesResets),
            "extended name: " + yesNo(attributes.hasExtendedName),
        ]
    }

    private static func latency(_ microseconds: UInt32) -> String {
        microseconds == 0xFFFF_FFFF ? "unknown" : String(microseconds) + " us"
    }

    /// Which RESET a `Send` issues, and its command's name and description.
    protocol Action {
        static var action: ResetAction { get }
        static var configuration: CommandConfiguration { get }
    }
    enum Assert: Action {
        static let action = ResetAction.assert
        static let configuration = CommandConfiguration(commandName: "assert", abstract: "RESET with explicit assert: hold the domain in reset.")
    }
    enum Deassert: Action {
        static let action = ResetAction.deassert
        static let configuration = CommandConfiguration(commandName: "deassert", abstract: "RESET with flags 0: let go of the domain.")
    }
    enum Pulse: Action {
        static let action = ResetAction.pulse
        static let configuration = CommandConfiguration(commandName: "pulse", abstract: "RESET with autonomous reset: assert and deassert.")
    }

    /// `call reset assert|deassert|pulse ID [--async]`.
    struct Send<Chosen: Action>: SCMICall {
        static var configuration: CommandConfiguration { Chosen.configuration }
        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallReset>
        @Flag(help: "Asynchronous: RESET_COMPLETE follows on the eventq (see --listen).") var async = false
        func send(_ client: SCMIClient) throws {
            try client.reset(try resource.resolved(client), Chosen.action, asynchronous: async)
            print(async ? "ok; RESET_COMPLETE follows on the eventq" : "ok")
        }
    }
}

private func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
