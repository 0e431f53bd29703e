"""The shared SQLite store of competing phases: lookups, failures, shipped imports, and two
processes building the same chemical system without doing the work twice."""

from __future__ import annotations

import multiprocessing
import os
import time

from matforge.oracles.hull_cache import FailedPhase, HullCache, Phase
from matforge.oracles.hull_sources import ensure_phases
from matforge.oracles.phase_builder import PhaseBuilder


def test_store_lookup_failures_and_schemes_apart(tmp_path) -> None:
    path = tmp_path / "hulls.sqlite"
    cache = HullCache("potential-a|scheme", path)
    cache.store([Phase("NaCl", -3.4, -3.4, "template"), FailedPhase("Na7Cl3", "no template")])
    found = cache.lookup(["NaCl", "Na7Cl3", "KCl"])
    assert found["NaCl"] == Phase("NaCl", -3.4, -3.4, "template")
    assert found["Na7Cl3"] == FailedPhase("Na7Cl3", "no template")
    assert "KCl" not in found
    assert HullCache("potential-b|scheme", path).lookup(["NaCl"]) == {}  # never mixed


def test_shipped_phases_are_imported_once_and_never_overwrite(tmp_path) -> None:
    cache = HullCache("s", tmp_path / "h.sqlite")
    cache.store([Phase("NaCl", -3.5, -3.5, "computed here")])
    assert cache.import_once("ref v1", [Phase("NaCl", -9.0, -9.0, "shipped"),
                                        FailedPhase("Na9Cl", "shipped failure")])
    assert not cache.import_once("ref v1", [Phase("KCl", -3.0, -3.0, "shipped")])
    found = cache.lookup(["NaCl", "Na9Cl", "KCl"])
    assert found["NaCl"].source == "computed here"
    assert isinstance(found["Na9Cl"], FailedPhase) and "KCl" not in found


def test_claims_of_a_dead_process_are_taken_over(tmp_path) -> None:
    cache = HullCache("s", tmp_path / "h.sqlite")
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    cache.conn.execute("INSERT INTO claims VALUES ('s', 'NaCl', ?, ?, ?)",
                       (cache.me[0], dead, time.time()))
    assert cache.claim(["NaCl", "KCl"]) == ["NaCl", "KCl"]
    assert cache.wait_for(["NaCl"], timeout=0.1) == ["NaCl"]  # now claimed by us, unbuilt


class CountingBuilder(PhaseBuilder):
    """A real phase builder that also reports which formulas this process built."""

    def build(self, formulas, exclude=()):
        with open(os.environ["BUILT_LOG"], "a") as fh:
            fh.write("".join(f"{os.getpid()} {f}\n" for f in formulas))
        return super().build(formulas, exclude)


def _build_in_child(path: str, formulas: list[str]) -> None:
    cache = HullCache("shared-test", path)
    ensure_phases(cache, CountingBuilder(n_templates=1, n_relax=1, progress=False), formulas)


def test_two_processes_build_each_phase_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BUILT_LOG", str(tmp_path / "built.txt"))
    path = str(tmp_path / "h.sqlite")
    formulas = ["NaCl", "KCl", "KBr", "NaBr"]
    # fresh interpreters, as two separate commands would be (a fork of this process could
    # inherit torch's thread pool mid-use from earlier tests)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_build_in_child, args=(path, formulas)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    built = (tmp_path / "built.txt").read_text().split("\n")
    built_formulas = [line.split()[1] for line in built if line]
    assert sorted(built_formulas) == sorted(formulas)  # each built by exactly one process
    found = HullCache("shared-test", path).lookup(formulas)
    assert all(isinstance(found[f], Phase) for f in formulas)
    assert -4.0 < found["NaCl"].corrected_energy_per_atom < -3.0


def test_reference_files_round_trip_and_are_byte_stable(tmp_path) -> None:
    from matforge.oracles.hull_reference import read_reference, reference_files, write_reference

    results = [Phase("NaCl", -3.4, -3.41, "template Li1 Cl1 (aflow-prototypes)"),
               FailedPhase("Cu25Se26", "no template")]
    scheme = "toy-1|MP2020|recipe"
    csv_a, card = write_reference(results, scheme, tmp_path / "a", {"command": "test"})
    csv_b, _ = write_reference(results[::-1], scheme, tmp_path / "b", {"command": "test"})
    assert csv_a.read_bytes() == csv_b.read_bytes()  # sorted rows, gzip without a timestamp
    back = read_reference(csv_a)
    assert back == sorted(results, key=lambda r: r.formula)
    assert reference_files(scheme, tmp_path / "a") == (csv_a, card)


def test_the_shipped_reference_matches_the_default_scheme() -> None:
    """The reference in the package is imported by the default auto hull (same scheme)."""
    import json

    from matforge.oracles.hull_reference import read_reference, reference_files
    from matforge.oracles.hull_sources import scheme_of

    csv_path, card_path = reference_files(scheme_of("chgnet"))
    card = json.loads(card_path.read_text())
    assert card["scheme"] == scheme_of("chgnet") and card["phases"] > 1000
    phases = [r for r in read_reference(csv_path) if isinstance(r, Phase)]
    assert len(phases) == card["phases"]
    assert all(-12 < p.corrected_energy_per_atom < 1 for p in phases)


def test_count_and_time_span_of_stored_phases(tmp_path):
    import time

    from matforge.oracles.hull_cache import FailedPhase, HullCache

    cache = HullCache("test-scheme", tmp_path / "hull.sqlite")
    assert cache.count() == 0 and cache.time_span(["NaCl"]) == 0.0
    cache.store([FailedPhase("NaCl", "no template")])
    time.sleep(0.2)
    cache.store([FailedPhase("KCl", "no template")])
    assert cache.count() == 2
    assert 0.1 < cache.time_span(["NaCl", "KCl"]) < 60
    assert cache.time_span(["NaCl"]) == 0.0
    cache.close()
