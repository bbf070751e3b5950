#!/usr/bin/env python3
"""expect.py - what a guest of one agent must observe, derived from `scmi-dt tables --format json`.

    expect.py TABLES.json AGENT_NAME > expect.env      (a shell file the guest sources)
    expect.py TABLES.json --shared AGENT_A AGENT_B     (a clock, a voltage domain and a reset domain both may use)
    expect.py TABLES.json --pair                       (the two agents that share the most, for arbitration)
    expect.py TABLES.json --perf-sensor                (agents with a performance domain or a host-file temperature sensor)
    expect.py TABLES.json --async-clock                (an agent's clock for clk-scmi to set at probe: ASYNC_* lines, or nothing)
    expect.py TABLES.json --mediator FIRMWARE.json     (TABLES is a mediator's board, FIRMWARE the tables of its
                                                        upstream firmware: the agent and clocks to check, MEDIATOR_* lines)

Nothing here is hard-coded to the example board: every value comes from the tables.
"""
import json
import os
import sys

POWER, PERFORMANCE, CLOCK, SENSOR, RESET, VOLTAGE = 0x11, 0x13, 0x14, 0x15, 0x16, 0x17

# hwmon's unit per SCMI sensor type: the power of ten its value is scaled to
# (millidegrees, millivolts, milliamps, microwatts, microjoules).
HWMON_SCALE = {"temperature": 3, "voltage": 3, "current": 3, "power": 6, "energy": 6}


def load(path):
    with open(path) as f:
        return json.load(f)


def agent_by_name(tables, name):
    for agent in tables["agents"]:
        if agent["name"] == name:
            return agent
    sys.exit(f"expect.py: no agent named {name!r}")


def reachable(tables, agent, protocol):
    """Resource ids of `protocol` that belong to a device the agent may use (and the protocol is allowed)."""
    if protocol not in agent["protocols"]:
        return []
    ids = []
    for device in tables["devices"]:
        if device["id"] in agent["devices"]:
            for ref in device["resources"]:
                if ref["protocol"] == protocol and ref["id"] not in ids:
                    ids.append(ref["id"])
    return ids


def rates(clock):
    r = clock["rates"]
    if "discrete" in r:
        return r["discrete"]
    return [r["min"], r["max"]]


def levels(domain):
    lv = domain["levels_microvolts"]
    if "discrete" in lv:
        return lv["discrete"]
    return [lv["min"], lv["max"]]


def settable_rate(clock, higher=False):
    """A described rate other than the initial one (the lowest or highest)."""
    r = clock["rates"]
    if "discrete" in r:
        candidates = [x for x in r["discrete"] if x != clock["initial_rate"]] or r["discrete"]
        return candidates[-1] if higher else candidates[0]
    lo, hi, step = r["min"], r["max"], r["step"]
    pick = lo + step * ((hi - lo) // step // (2 if not higher else 1))
    if pick == clock["initial_rate"] and pick - step >= lo:
        pick -= step
    return pick


def settable_level(domain, higher=False):
    lv = domain["levels_microvolts"]
    if "discrete" in lv:
        values = lv["discrete"]
        return values[-1] if higher else values[0]
    lo, hi, step = lv["min"], lv["max"], lv["step"]
    n = (hi - lo) // step
    return lo + step * (n if higher else max(1, n // 2) if n > 1 else 0)


def agent_env(tables, name):
    agent = agent_by_name(tables, name)
    backend = tables["backend"]
    clocks = {c["id"]: c for c in tables["clocks"]}
    domains = {d["id"]: d for d in tables["voltage_domains"]}
    own_clocks = reachable(tables, agent, CLOCK)
    own_domains = reachable(tables, agent, VOLTAGE)
    out = {
        "AGENT_ID": agent["id"],
        "AGENT_NAME": agent["name"],
        "TRUSTED": 1 if agent["trusted"] else 0,
        "VENDOR": backend["vendor"],
        "SUBVENDOR": backend["sub_vendor"],
        "FIRMWARE_VERSION": "0x%x" % backend["implementation_version"],
        "CLOCK_PROTOCOL": 1 if CLOCK in agent["protocols"] else 0,
        "VOLTAGE_PROTOCOL": 1 if VOLTAGE in agent["protocols"] else 0,
        # every clock of the platform (discovery answers for all of them)
        "ALL_CLOCKS": " ".join(c["name"] for c in tables["clocks"]),
        # the agent's own clocks with the rate nobody has changed yet
        "OWN_CLOCKS": " ".join("%s:%d" % (clocks[i]["name"], clocks[i]["initial_rate"]) for i in own_clocks),
        "OWN_REGULATORS": " ".join("%s:%d" % (domains[i]["name"], domains[i]["initial_microvolts"]) for i in own_domains),
    }
    if own_clocks:
        # prefer a clock with a choice of rates
        pick = next((i for i in own_clocks if len(set(rates(clocks[i]))) > 1), own_clocks[0])
        out["PERMITTED_CLOCK"] = pick
        out["PERMITTED_RATE"] = settable_rate(clocks[pick])
        out["PERMITTED_INITIAL_RATE"] = clocks[pick]["initial_rate"]
    # Power and reset domains: the agent's own ones (one to drive through raw
    # mode) and one it may not use (DENIED), when the tables have them.
    for protocol, key, prefix in ((POWER, "power_domains", "POWER"), (RESET, "reset_domains", "RESET")):
        out[prefix + "_PROTOCOL"] = 1 if protocol in agent["protocols"] else 0
        own = reachable(tables, agent, protocol)
        names = {d["id"]: d["name"] for d in tables[key]}
        out["OWN_" + prefix + "_DOMAINS"] = " ".join(names[i] for i in own)
        out["FOREIGN_" + prefix + "_DOMAINS"] = " ".join(names[i] for i in names if i not in own)
        if own:
            out["PERMITTED_" + prefix + "_DOMAIN"] = own[0]
        foreign = [i for i in names if i not in own]
        if foreign and protocol in agent["protocols"]:
            out["DENIED_" + prefix + "_DOMAIN"] = foreign[0]
    foreign = [i for i in clocks if i not in own_clocks]
    if foreign:
        out["DENIED_CLOCK"] = foreign[0]
        # a device that owns it, for the trusted agent's self-grant
        for device in tables["devices"]:
            if {"protocol": CLOCK, "id": foreign[0]} in device["resources"]:
                out["DENIED_CLOCK_DEVICE"] = device["id"]
                break
    out.update(perf_sensor_env(tables, agent))
    return out


def hwmon_value(sensor, value):
    """What scmi-hwmon shows for a reading `value` of `sensor` (it truncates when it divides)."""
    power = sensor["unit_exponent"] + HWMON_SCALE[sensor["type"]]
    return value * 10 ** power if power >= 0 else int(value / 10 ** -power)


def changeable_file(sensor):
    """A host-file temperature sensor whose file this suite may write (under /tmp, or writable)."""
    path = sensor.get("path")
    return sensor["type"] == "temperature" and path is not None and (path.startswith("/tmp/") or os.access(path, os.W_OK))


def perf_sensor_env(tables, agent):
    """CPU 0 on the agent's first performance domain; its sensors; a file sensor the host changes."""
    out = {}
    domains = {d["id"]: d for d in tables["performance_domains"]}
    own_domains = reachable(tables, agent, PERFORMANCE)
    if own_domains:
        domain = domains[own_domains[0]]
        frequencies = sorted({level["hz"] // 1000 for level in domain["levels"] if level["hz"] >= 1000})
        out.update(PERF_DOMAIN=domain["id"], PERF_DOMAIN_NAME=domain["name"],
                   PERF_FREQS=" ".join(str(f) for f in frequencies), PERF_SET=frequencies[len(frequencies) // 2])
    sensors = {s["id"]: s for s in tables["sensors"]}
    own_sensors = reachable(tables, agent, SENSOR)
    if own_sensors:
        out["SENSOR_NAMES"] = " ".join(sensors[i]["name"] for i in own_sensors)
    files = [sensors[i] for i in own_sensors if changeable_file(sensors[i])]
    if files:
        sensor = files[0]
        first, second = 41000, 52000
        out.update(FILE_SENSOR_NAME=sensor["name"], FILE_SENSOR_PATH=sensor["path"],
                   FILE_SENSOR_FIRST_RAW=first, FILE_SENSOR_SECOND_RAW=second,
                   FILE_SENSOR_FIRST=hwmon_value(sensor, first), FILE_SENSOR_SECOND=hwmon_value(sensor, second))
    return out


def perf_sensor_agents(tables):
    return [a["name"] for a in tables["agents"]
            if any(k in perf_sensor_env(tables, a) for k in ("PERF_DOMAIN", "FILE_SENSOR_NAME"))]


def shared(tables, a_name, b_name):
    a, b = agent_by_name(tables, a_name), agent_by_name(tables, b_name)
    clocks = {c["id"]: c for c in tables["clocks"]}
    domains = {d["id"]: d for d in tables["voltage_domains"]}
    common_clocks = [i for i in reachable(tables, a, CLOCK) if i in reachable(tables, b, CLOCK)]
    common_domains = [i for i in reachable(tables, a, VOLTAGE) if i in reachable(tables, b, VOLTAGE)]
    # arbitration is only visible on resources with a choice of values
    common_clocks.sort(key=lambda i: len(set(rates(clocks[i]))) < 2)
    common_domains.sort(key=lambda i: len(set(levels(domains[i]))) < 2)
    out = {}
    # a resource with a single value cannot show arbitration: leave it out rather than pass vacuously
    if common_clocks and len(set(rates(clocks[common_clocks[0]]))) > 1:
        c = clocks[common_clocks[0]]
        out.update(SHARED_CLOCK=c["id"], SHARED_CLOCK_NAME=c["name"], LOW_RATE=settable_rate(c), HIGH_RATE=settable_rate(c, higher=True))
    if common_domains and len(set(levels(domains[common_domains[0]]))) > 1:
        d = domains[common_domains[0]]
        out.update(SHARED_DOMAIN=d["id"], SHARED_DOMAIN_NAME=d["name"], LOW_LEVEL=settable_level(d), HIGH_LEVEL=settable_level(d, higher=True))
    # a reset line both may use: one guest asserts it, the other hears RESET_ISSUED
    common_resets = [i for i in reachable(tables, a, RESET) if i in reachable(tables, b, RESET)]
    if common_resets:
        r = next(r for r in tables["reset_domains"] if r["id"] == common_resets[0])
        out.update(SHARED_RESET=r["id"], SHARED_RESET_NAME=r["name"])
    return out


def best_pair(tables):
    """Two agents sharing resources, preferring a clock and a domain with a choice of values."""
    clocks = {c["id"]: c for c in tables["clocks"]}
    domains = {d["id"]: d for d in tables["voltage_domains"]}
    best, best_score = None, -1
    agents = tables["agents"]
    for i, a in enumerate(agents):
        for b in agents[i + 1:]:
            cc = [x for x in reachable(tables, a, CLOCK) if x in reachable(tables, b, CLOCK)]
            dd = [x for x in reachable(tables, a, VOLTAGE) if x in reachable(tables, b, VOLTAGE)]
            rr = [x for x in reachable(tables, a, RESET) if x in reachable(tables, b, RESET)]
            score = (4 if any(len(set(rates(clocks[x]))) > 1 for x in cc) else 1 if cc else 0) + \
                    (2 if any(len(set(levels(domains[x]))) > 1 for x in dd) else 1 if dd else 0) + (1 if rr else 0)
            if score > best_score:
                best, best_score = (a["name"], b["name"]), score
    return best if best_score > 0 else None


def async_clock(tables):
    """The first agent with a clock of its own that has a rate other than its
    initial one, small enough for a 32-bit assigned-clock-rates cell: clk-scmi
    sets it when it registers its clocks, and sends an asynchronous
    CLOCK_RATE_SET because the platform reports pending asynchronous requests.
    The highest such rate, so that it is not the one the basics guest set."""
    clocks = {c["id"]: c for c in tables["clocks"]}
    for agent in tables["agents"]:
        for clock_id in reachable(tables, agent, CLOCK):
            clock = clocks[clock_id]
            candidates = [settable_rate(clock, higher=True), settable_rate(clock)]
            rate = next((r for r in candidates if r != clock["initial_rate"] and r < 2 ** 32), None)
            if rate is not None:
                return {"ASYNC_AGENT": agent["name"], "ASYNC_AGENT_ID": agent["id"], "ASYNC_CLOCK": clock_id,
                        "ASYNC_CLOCK_NAME": clock["name"], "ASYNC_RATE": rate}
    return {}


def mediator(tables, firmware):
    """For a mediator's board and the tables of the firmware it forwards to: the agent
    with the most firmware clocks, each of them with the facts the firmware has for it
    (FIRMWARE_CLOCKS, "name:mediator-id:firmware-id:initial:min:max"), and the one with the
    most rates for the guest to set (MEDIATOR_SET_*): the guest must see the firmware's
    facts, not the mediator devicetree's, and its change must reach the firmware's id."""
    by_id = {c["id"]: c for c in firmware["clocks"]}
    best = None
    for agent in tables["agents"]:
        own = [c for c in tables["clocks"] if c["id"] in reachable(tables, agent, CLOCK) and c.get("firmware")]
        if own and (best is None or len(own) > len(best[1])):
            best = (agent, own)
    if best is None:
        return {}
    agent, own = best
    facts = []
    for clock in own:
        served = by_id.get(clock["firmware"]["id"])
        if served is None:
            sys.exit(f"expect.py: the firmware has no clock {clock['firmware']['id']} ({clock['name']})")
        facts.append((clock, served))
    clock, served = max(facts, key=lambda pair: len(set(rates(pair[1]))) if "discrete" in pair[1]["rates"] else 1 << 30)
    return {
        "MEDIATOR_AGENT": agent["name"],
        "FIRMWARE_CLOCKS": " ".join("%s:%d:%d:%d:%d:%d" % (c["name"], c["id"], f["id"], f["initial_rate"], min(rates(f)), max(rates(f)))
                                    for c, f in facts),
        "MEDIATOR_SET_CLOCK": clock["id"],
        "MEDIATOR_SET_CLOCK_NAME": clock["name"],
        "MEDIATOR_SET_FIRMWARE_ID": served["id"],
        "MEDIATOR_SET_RATE": settable_rate(served, higher=True),
        "MEDIATOR_SET_INITIAL": served["initial_rate"],
    }


def emit(values):
    for key, value in values.items():
        text = str(value).replace("'", "")
        print(f"{key}='{text}'")


if __name__ == "__main__":
    if len(sys.argv) == 3 and not sys.argv[2].startswith("--"):
        emit(agent_env(load(sys.argv[1]), sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[2] == "--perf-sensor":
        print(" ".join(perf_sensor_agents(load(sys.argv[1]))))
    elif len(sys.argv) == 3 and sys.argv[2] == "--async-clock":
        emit(async_clock(load(sys.argv[1])))
    elif len(sys.argv) == 3 and sys.argv[2] == "--pair":
        pair = best_pair(load(sys.argv[1]))
        print(" ".join(pair) if pair else "")
    elif len(sys.argv) == 4 and sys.argv[2] == "--mediator":
        emit(mediator(load(sys.argv[1]), load(sys.argv[3])))
    elif len(sys.argv) == 5 and sys.argv[2] == "--shared":
        emit(shared(load(sys.argv[1]), sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
