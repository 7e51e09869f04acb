"""A seeded, realistic synthetic medications CSV (and patients CSV) for the audit benchmark.

~5 orders per patient; generic, brand and misspelt names in any case; mixed units and
structured fields or free-text sigs; supplements and co-medications; a few percent of bad rows
(missing drug, unreadable dose, wrong number of fields, broken quote).

    python benchmarks/gen_meds.py 1000000 meds.csv [--patients patients.csv] [--seed 7] [--shuffle]
"""

from __future__ import annotations

import argparse
import csv

import numpy as np

# (name spellings, [(dose, unit)], routes, frequencies)
DRUGS = [
    (
        ["acetaminophen", "Tylenol", "PARACETAMOL", "apap"],
        [("1", "g"), ("500", "mg"), ("650", "mg"), ("1000", "mg")],
        ["oral", "po", ""],
        ["q6h", "q4h", "qid", "q8h"],
    ),
    (
        ["ibuprofen", "Advil", "Motrin"],
        [("400", "mg"), ("600", "mg"), ("800", "mg")],
        ["oral", "po"],
        ["q6h", "tid", "q8h"],
    ),
    (
        ["oxycodone", "OxyContin", "Roxicodone"],
        [("5", "mg"), ("10", "mg"), ("20", "mg"), ("40", "mg")],
        ["oral", "po"],
        ["q4h", "q12h", "q6h"],
    ),
    (
        ["morphine", "MS Contin", "morphine sulfate"],
        [("15", "mg"), ("30", "mg"), ("4", "mg")],
        ["oral", "iv", "sc"],
        ["q4h", "q12h", "q6h"],
    ),
    (
        ["fentanyl", "Duragesic"],
        [("25", "ug/h"), ("50", "mcg/h"), ("100", "µg/h")],
        ["transdermal", "td"],
        ["q72h"],
    ),
    (
        ["gabapentin", "Neurontin"],
        [("300", "mg"), ("600", "mg"), ("900", "mg")],
        ["oral"],
        ["tid", "qhs", "bid"],
    ),
    (["pregabalin", "Lyrica"], [("75", "mg"), ("150", "mg"), ("300", "mg")], ["oral"], ["bid"]),
    (["tramadol", "Ultram"], [("50", "mg"), ("100", "mg")], ["oral"], ["q6h", "q4h"]),
    (
        ["dexamethasone", "Decadron"],
        [("4", "mg"), ("8", "mg"), ("10", "mg")],
        ["oral", "iv"],
        ["daily", "bid", "q6h"],
    ),
    (
        ["zoledronic acid", "Zometa", "zoledronate"],
        [("4", "mg"), ("5", "mg")],
        ["iv"],
        ["every 4 weeks", "once"],
    ),
    (["denosumab", "Xgeva"], [("120", "mg")], ["sc"], ["every 4 weeks", "monthly"]),
    (["ketorolac", "Toradol"], [("15", "mg"), ("30", "mg")], ["iv", "im"], ["q6h"]),
    (["warfarin", "Coumadin"], [("5", "mg"), ("2.5", "mg")], ["oral"], ["daily"]),
    (["apixaban", "Eliquis"], [("5", "mg"), ("2.5", "mg")], ["oral"], ["bid"]),
    (["sertraline", "Zoloft"], [("50", "mg"), ("100", "mg")], ["oral"], ["daily"]),
    (["aspirin"], [("81", "mg"), ("325", "mg")], ["oral"], ["daily"]),
    (["lorazepam"], [("1", "mg"), ("0.5", "mg")], ["oral"], ["q8h", "qhs"]),
    (["ondansetron"], [("8", "mg"), ("4", "mg")], ["oral", "iv"], ["q8h"]),
    (["furosemide"], [("40", "mg")], ["oral"], ["daily"]),
    (
        ["vitamin D3", "cholecalciferol"],
        [("1000", "IU"), ("2000", "units"), ("50000", "IU")],
        ["oral"],
        ["daily", "weekly"],
    ),
    (["calcium citrate", "Citracal"], [("500", "mg"), ("1", "g")], ["oral"], ["bid", "daily"]),
    (["omega-3", "fish oil omega 3"], [("1", "g"), ("2", "g")], ["oral"], ["daily"]),
    (["curcumin", "turmeric curcumin"], [("500", "mg"), ("1000", "mg")], ["oral"], ["bid"]),
    (["glucosamine"], [("1500", "mg")], ["oral"], ["daily"]),
    (["radium-223", "Xofigo"], [("55", "kBq/kg"), ("3.85", "MBq")], ["iv"], ["every 4 weeks"]),
    (["blorfinax", "Zzyzxal"], [("5", "mg")], ["oral"], ["daily"]),
]
SIGS = [
    "1 g PO q6h PRN pain",
    "10 mg IV bolus then 4 mg IV/PO every 6 h",
    "5–15 mg orally every 4 h PRN",
    "300 mg qHS → up to 1.2 g TID",
    "12 µg/h changed every 72 h",
    "1 g every 6 h (≤4 g/day)",
    "15 mg IV q6 h (≤5 days)",
    "400 mg po tid with food",
    "5 mg PO q4h prn, max 30 mg/day",
    "2 tabs po bid",
    "50 mg po q6h as needed",
]
SIG_DRUG = [0, 8, 3, 5, 4, 0, 11, 1, 2, 9, 7]
WARDS = ["oncology", "palliative", "ortho", '=HYPERLINK("x")', "ICU", "day unit"]
HEADER = ["patient_id", "drug", "dose", "unit", "route", "frequency", "prn", "duration_days", "sig", "ward"]


def rows(n: int, seed: int) -> tuple[list[list[str]], int]:
    rng = np.random.default_rng(seed)
    per = rng.poisson(4, size=n // 3 + 10) + 1
    pid = np.repeat(np.arange(len(per)), per)[:n]
    drug = rng.integers(0, len(DRUGS), n)
    kind = rng.random(n)
    out = []
    for i in range(n):
        names, doses, routes, freqs = DRUGS[drug[i]]
        p = f"P{pid[i]:07d}"
        ward = WARDS[i % len(WARDS)]
        k = kind[i]
        if k < 0.2:
            s = int(rng.integers(len(SIGS)))
            name = DRUGS[SIG_DRUG[s]][0][int(rng.integers(len(DRUGS[SIG_DRUG[s]][0])))]
            out.append([p, name, "", "", "", "", "", "", SIGS[s], ward])
            continue
        name = names[int(rng.integers(len(names)))]
        if k < 0.3:
            name = name.upper() if k < 0.25 else name.lower()
        d, u = doses[int(rng.integers(len(doses)))]
        row = [
            p,
            name,
            d,
            u,
            routes[int(rng.integers(len(routes)))],
            freqs[int(rng.integers(len(freqs)))],
            "true" if k > 0.93 else "",
            "7" if k > 0.9 else "",
            "",
            ward,
        ]
        if k > 0.985:  # a few percent of bad rows
            bad = int(rng.integers(5))
            if bad == 0:
                row[1] = ""
            elif bad == 1:
                row[2] = "ten"
            elif bad == 2:
                row.append("extra")
            elif bad == 3:
                row = row[:5]
            else:
                row[8] = '"broken'
        out.append(row)
    return out, int(pid[-1]) + 1


def write(path: str, data: list[list[str]], header: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(header) + "\n")
        w = csv.writer(fh, lineterminator="\n")
        for r in data:
            if r[-1:] == ['"broken'] or (len(r) > 8 and r[8] == '"broken'):
                fh.write(",".join(r[:8]) + ',"broken,' + r[9] + "\n")
            else:
                w.writerow(r)


def patients(n: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed + 1)
    out = []
    for i in range(n):
        age = int(rng.integers(18, 95))
        w = "" if rng.random() < 0.2 else f"{rng.uniform(40, 120):.1f}"
        crcl = "" if rng.random() < 0.4 else str(int(rng.integers(10, 130)))
        cond = ";".join(
            c for c in ("bone_metastases", "gi_bleed_history", "alcohol_use") if rng.random() < 0.15
        )
        out.append([f"P{i:07d}", str(age), w, ["male", "female"][i % 2], crcl, cond])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("rows", type=int)
    ap.add_argument("out")
    ap.add_argument("--patients")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shuffle", action="store_true", help="rows in random order (not grouped by patient)")
    a = ap.parse_args()
    data, n_patients = rows(a.rows, a.seed)
    if a.shuffle:
        order = np.random.default_rng(a.seed).permutation(len(data))
        data = [data[i] for i in order]
    write(a.out, data, HEADER)
    if a.patients:
        with open(a.patients, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["patient_id", "age_years", "weight_kg", "sex", "crcl_ml_min", "conditions"])
            w.writerows(patients(n_patients, a.seed))


if __name__ == "__main__":
    main()
