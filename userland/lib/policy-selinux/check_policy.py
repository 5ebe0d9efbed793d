#!/usr/bin/python3
"""Runs the SELinux assertions on a binary policy and prints the results as JSON.

Usage: check_policy.py POLICY --assertions FILE --infoflow FILE [--rules FILE]

- assertions: a sechecker configuration (setools' assert_te checks), run through setools'
  own checker so the file stays usable with `sechecker`.
- infoflow: information-flow checks (format described at the top of selinux/infoflow.ini).
- rules: JSON list of {name, source, target, tclass, perms} allow rules that must exist,
  derived by the tests from the gateway policy.

Needs Debian's python3-setools; call it with /usr/bin/python3.
"""

import argparse
import configparser
import io
import json
import logging
import sys
import time

import setools


class RuleCache:
    """The policy with its TE rules read once: every query otherwise re-reads all of them."""

    def __init__(self, policy, rules=None, types=None):
        self._policy = policy
        self._rules = list(policy.terules()) if rules is None else rules
        self._types = {str(t): t for t in policy.types()} if types is None else types

    def terules(self):
        return iter(self._rules)

    def lookup_type(self, name):
        # setools looks a name up by scanning all types; the analysis does it per excluded type.
        found = self._types.get(str(name))
        return found if found is not None else self._policy.lookup_type(name)

    def scoped(self, rules):
        return RuleCache(self._policy, rules, self._types)

    def __getattr__(self, name):
        return getattr(self._policy, name)

    def __str__(self):
        return str(self._policy)


def result(source_file, name, desc, passed, details, seconds):
    return {
        "file": source_file,
        "name": name,
        "desc": desc or "",
        "passed": passed,
        "details": details,
        "seconds": round(seconds, 3),
    }


def run_assertions(policy, path):
    results = []
    try:
        checker = setools.PolicyChecker(policy, path)
    except Exception as e:  # a bad configuration fails the run, with the reason
        return [result("assertions", "configuration", path, False, [str(e)], 0)]
    for check in checker.checks:
        start = time.monotonic()
        out = io.StringIO()
        check.output = out
        try:
            failures = [str(f) for f in check.run()]
        except Exception as e:  # a broken check must fail, not vanish
            failures = [f"error: {e}"]
        results.append(
            result("assertions", check.checkname, check.desc, not failures, failures,
                   time.monotonic() - start))
    return results


def names(value):
    return [v for v in (value or "").split() if v]


def run_infoflow(policy, path):
    config = configparser.ConfigParser()
    with open(path) as fd:
        config.read_file(fd, source=path)
    scope = config["scope"] if config.has_section("scope") else {}
    gateway = {str(t) for t in policy.lookup_typeattr("smgw_domain").expand()}
    base_exclude = names(scope.get("exempt"))
    if scope.get("exclude_other_domains", "no") == "yes":
        base_exclude += [str(t) for t in policy.lookup_typeattr("domain").expand()
                         if str(t) not in gateway]
    booleans = None
    if scope.get("booleans", "all") == "default":
        booleans = {b.name: b.state for b in policy.bools()}

    start = time.monotonic()
    graph_policy = policy
    if scope.get("exclude_other_domains", "no") == "yes":
        # Rules whose source is only excluded domains give edges from excluded nodes alone;
        # leaving them out gives the same answers in a fraction of the time.
        others = {str(t) for t in policy.lookup_typeattr("domain").expand()} - gateway
        keep = {str(t) for t in policy.types() if str(t) not in others}
        keep |= {str(a) for a in policy.typeattributes()
                 if any(str(t) not in others for t in a.expand())}
        graph_policy = policy.scoped([r for r in policy.terules()
                                      if r.ruletype == setools.TERuletype.allow
                                      and str(r.source) in keep])
    analysis = setools.InfoFlowAnalysis(graph_policy, setools.PermissionMap(), min_weight=1,
                                        exclude=base_exclude, booleans=booleans)
    known = {str(t) for t in policy.types()}
    attributes = {str(a): sorted(str(t) for t in a.expand()) for a in policy.typeattributes()}

    def types_of(value):
        # An attribute stands for its types.
        return [t for n in names(value) for t in attributes.get(n, [n])]
    results = []
    first = True
    for name in config.sections():
        if name == "scope":
            continue
        section = config[name]
        t0 = time.monotonic()
        sources = types_of(section.get("source"))
        targets = types_of(section.get("target"))
        through = types_of(section.get("through"))
        pairs = ([(a, b) for a in sources for b in sources if a != b]
                 if section.get("all_pairs", "no") == "yes"
                 else [(a, b) for a in sources for b in targets])
        details = []
        unknown = [t for t in sources + targets + through if t not in known]
        if unknown:
            details.append(f"unknown types: {' '.join(unknown)}")
        else:
            analysis.exclude = base_exclude + through
            for a, b in pairs:
                path = first_path(analysis, a, b)
                if path:
                    details.append(f"{a} -> {b} avoiding {' '.join(through) or 'nothing'}: "
                                   + describe(path))
            if section.get("expect_path", "no") == "yes":
                analysis.exclude = base_exclude
                if not any(first_path(analysis, a, b) for a, b in pairs):
                    details.append(f"expected a path through {' '.join(through)}, found none")
        seconds = time.monotonic() - t0
        if first:
            # The first check pays for building the graph.
            seconds = time.monotonic() - start
            first = False
        results.append(result("infoflow", name, section.get("desc"), not details, details,
                              seconds))
    return results


def first_path(analysis, source, target):
    try:
        for path in analysis.shortest_path(source, target):
            return list(path)
    except Exception:  # a type with no rules is not in the graph: no path
        return None
    return None


def describe(path):
    hops = []
    for step in path:
        rules = sorted(str(r) for r in step.rules)
        hops.append(f"{step.source} -> {step.target} [{rules[0] if rules else ''}]")
    return "; ".join(hops)


def run_rules(policy, path):
    """Expected rules: {name, source, target, tclass, perms}, or a port label:
    {name, kind: "port", protocol, port, type}, which the first matching portcon must give."""
    with open(path) as fd:
        wanted = json.load(fd)
    portcons = list(policy.portcons())
    # Only rules naming an expected type, or an attribute holding one, can match: query those.
    members = {}
    for a in policy.typeattributes():
        for t in a.expand():
            members.setdefault(str(t), set()).add(str(a))
    relevant = set()
    for w in wanted:
        for name in (w.get("source"), w.get("target")):
            if name:
                relevant |= {name} | members.get(name, set())
    policy = policy.scoped([r for r in policy.terules()
                            if str(r.source) in relevant and str(r.target) in relevant])
    results = []
    for w in wanted:
        t0 = time.monotonic()
        if w.get("kind") == "port":
            first = next((pc for pc in portcons
                          if str(pc.protocol) == w["protocol"]
                          and pc.ports.low <= w["port"] <= pc.ports.high), None)
            got = str(first.context.type_) if first else "none"
            details = [] if got == w["type"] else [f"labelled {got}"]
            results.append(result("rules", w["name"], f"{w['protocol']} {w['port']} is "
                                  f"{w['type']}", not details, details, time.monotonic() - t0))
            continue
        query = setools.TERuleQuery(policy, ruletype=("allow",), source=w["source"],
                                    target=w["target"], tclass=[w["tclass"]],
                                    perms=set(w["perms"]))
        # Permissions may be split over several rules (attributes and the type itself).
        granted = set()
        for r in query.results():
            granted |= set(r.perms) & set(w["perms"])
        missing = sorted(set(w["perms"]) - granted)
        details = [] if not missing else [f"missing {' '.join(missing)}"]
        results.append(result("rules", w["name"], f"{w['source']} {w['target']}:{w['tclass']} "
                              f"{' '.join(w['perms'])}", not missing, details,
                              time.monotonic() - t0))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policy")
    parser.add_argument("--assertions")
    parser.add_argument("--infoflow")
    parser.add_argument("--rules")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    policy = RuleCache(setools.SELinuxPolicy(args.policy))
    results = []
    if args.assertions:
        results += run_assertions(policy, args.assertions)
    if args.rules:
        results += run_rules(policy, args.rules)
    if args.infoflow:
        results += run_infoflow(policy, args.infoflow)
    json.dump({"results": results}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
