"""The one catalogue of what people read: rule texts for officers, award reasons for the committee.

Every validation rule (reader, intake, suites, runner) is keyed here by its `rule` name. The issue
rows in `validation_issues` keep their detailed English `message` (with the cycle's lists and
limits filled in); the pages people read show the catalogue's Bahasa Indonesia text first and that
English message beside it, or English alone with `lang="en"` (`pekppp validate --lang en`).
Templates may use `{table}`, `{column}`, `{value}` and `{row}` of the issue.

Award reasons (`REASON_TEXT`) are templates in both languages with named fields, turned into Polars
expressions by `reason_expr`, so that `transforms.awards` publishes each reason in Bahasa Indonesia
(`reason`, `ineligible_reason`) with its English twin beside (`reason_en`, `ineligible_reason_en`).
It lives in transforms/ because both the suites (expectations/) and the scoring may import it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

import polars as pl

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"

_UNSAFE_ENTRY = ("Kiriman memuat entri yang tidak diizinkan ({value}): tautan, berkas khusus atau jalur di luar "
                 "kiriman. Kirim hanya berkas tabel biasa dalam satu folder atau .zip.")
_TOO_BIG = ("Kiriman atau berkasnya melampaui batas yang diizinkan ({value}). Kecilkan berkasnya (hapus "
            "lembar atau kolom yang tidak diperlukan) lalu kirim ulang.")

RULE_TEXT_ID: Mapping[str, str] = {
    # reading the bundle and its files (flows/readers.py, flows/intake/)
    "unreadable": "Berkas {value} tidak dapat dibaca. Buka berkasnya, simpan ulang dalam format yang didukung "
                  "(.csv, .xlsx, .parquet, .json, .jsonl), lalu kirim ulang seluruh kiriman.",
    "not_a_bundle": "{value} bukan kiriman: unggah sebuah folder atau .zip yang berisi berkas tabel.",
    "missing_table": "Kiriman tidak memuat tabel {table}. Tambahkan berkas {table}.csv (atau .xlsx, .parquet, "
                     ".json, .jsonl), lalu kirim ulang seluruh kiriman.",
    "ambiguous_table": "Beberapa berkas memuat tabel {table} ({value}). Sisakan satu saja, lalu kirim ulang.",
    "unsupported_format": "Berkas {value} bukan format yang didukung. Simpan tabel {table} sebagai .csv atau "
                          ".xlsx (atau .parquet, .json, .jsonl), lalu kirim ulang.",
    "empty_table": "Berkas tabel {table} tidak berisi baris data. Isi tabelnya (atau, bila tabelnya opsional, "
                   "jangan sertakan berkasnya).",
    "missing_column": "Tabel {table} tidak memiliki kolom {column}. Tambahkan kolom dengan judul persis ini pada "
                      "baris judul, lalu kirim ulang.",
    "duplicate_column": "Judul kolom {column} muncul lebih dari sekali di tabel {table}. Hapus salah satunya.",
    "duplicate_key": "Sebuah nama kolom muncul dua kali dalam satu rekaman ({value}). Hapus duplikatnya.",
    "mixed_encoding": "Berkas {value} mencampur pengodean karakter. Simpan ulang sebagai UTF-8 (CSV UTF-8).",
    "type": "Nilai {value} di kolom {column} tidak dapat dibaca sebagai jenis datanya (angka, tanggal "
            "YYYY-MM-DD atau teks). Perbaiki selnya.",
    "extra_fields": "Baris ini memiliki lebih banyak sel daripada baris judul tabel {table} (mis. koma atau titik koma "
                    "tambahan). Perbaiki barisnya agar jumlah selnya sama dengan jumlah kolom.",
    "not_null": "Kolom {column} kosong padahal wajib diisi. Isi selnya, atau hapus barisnya bila bukan data "
                "sebenarnya.",
    "symlink": _UNSAFE_ENTRY, "hard_link": _UNSAFE_ENTRY, "special_file": _UNSAFE_ENTRY,
    "zip_slip": _UNSAFE_ENTRY, "zip_absolute_path": _UNSAFE_ENTRY, "zip_symlink": _UNSAFE_ENTRY,
    "zip_duplicate_entry": "Berkas .zip memuat nama berkas yang sama dua kali ({value}). Buat ulang .zip-nya.",
    "zip_bomb": _TOO_BIG, "zip_too_large": _TOO_BIG, "zip_too_many_files": _TOO_BIG,
    "bundle_too_large": _TOO_BIG, "bundle_too_many_files": _TOO_BIG, "limit_exceeded": _TOO_BIG,
    "unknown_region": "Kode wilayah {value} tidak dikenal. Unggah di bawah <siklus>/<kode_wilayah>/ dengan kode "
                      "Kemendagri (mis. 35 atau 35.78) atau kode Bagian Anggaran K/L.",
    "late": "Kiriman diterima setelah siklus ditutup: disimpan, tetapi tidak dipakai. Bila diunggah tepat "
            "waktu, hubungi tim evaluasi dengan menyebut Submission ID.",
    # the suites (expectations/*.json)
    # (required_table, required_column and table_not_empty are no longer checked, the reader's missing_table,
    # missing_column and empty_table are: their texts stay for the pages of releases made before)
    "required_table": "Kiriman tidak memuat tabel {table}. Tambahkan berkas {table}.csv (atau .xlsx, .parquet, "
                      ".json), lalu kirim ulang seluruh kiriman.",
    "required_column": "Tabel {table} tidak memiliki kolom {column}. Tambahkan kolom dengan judul persis ini, lalu "
                       "kirim ulang.",
    "table_not_empty": "Tabel {table} tidak berisi baris data. Isi tabelnya, lalu kirim ulang.",
    "unique_unit_id": "unit_id {value} tercantum lebih dari sekali di tabel units. Setiap unit layanan cukup satu "
                      "baris: hapus duplikatnya atau perbaiki unit_id.",
    "region_ownership": "Unit ini tercatat untuk wilayah {value}, bukan wilayah kiriman ini. Kirim hanya unit "
                        "wilayah Anda sendiri, atau perbaiki region_code.",
    "unit_type_allowed": "Jenis unit {value} tidak termasuk jenis unit siklus ini. Gunakan salah satu jenis unit "
                         "yang berlaku (daftarnya ada pada pesan di bawah).",
    "unit_type_lokus": "Jenis unit {value} tidak termasuk lokus siklus ini untuk tingkat pemerintahan Anda: unit "
                       "tidak dinilai (sisa kiriman tetap dipakai). Hapus unitnya atau perbaiki unit_type.",
    "service_users_range": "annual_service_users {value} tidak sah: isi bilangan bulat 0 atau lebih, atau "
                           "kosongkan.",
    "indicator_allowed": "Kode indikator {value} tidak termasuk indikator siklus ini. Gunakan kode indikator "
                         "yang berlaku (mis. 1.a.Ak).",
    "score_range": "Skor {value} di luar rentang skor siklus ini. Isi bilangan bulat dalam rentang yang berlaku.",
    "unit_known": "unit_id {value} tidak tercantum di tabel units kiriman ini. Tambahkan unitnya ke units atau "
                  "perbaiki unit_id.",
    "unique_score": "Skor untuk unit, indikator dan penilai yang sama ({value}) muncul lebih dari sekali. Hapus "
                    "duplikatnya atau perbaiki evaluator_id.",
    "unique_respondent": "Responden yang sama pada unit yang sama ({value}) muncul lebih dari sekali. Setiap "
                         "responden dihitung sekali per unit: hapus duplikatnya atau perbaiki respondent_id.",
    "f03_score_range": "Jawaban F-03 {value} di luar rentang skor siklus ini. Isi bilangan bulat dalam rentang "
                       "yang berlaku.",
    "unique_f03_answer": "Jawaban responden yang sama untuk butir yang sama pada unit yang sama ({value}) muncul "
                         "lebih dari sekali. Sisakan satu jawaban per responden dan butir: hapus duplikatnya atau "
                         "perbaiki respondent_id atau item.",
    "f03_not_used": "Kiriman memuat tabel formulir warga F-03 ({value}), tetapi siklus ini tidak memakai F-03: "
                    "tabelnya tidak dibaca dan sisa kiriman tetap dipakai.",
    "survey_window": "Tanggal survei {value} di luar jendela survei siklus ini. Perbaiki tanggalnya (YYYY-MM-DD).",
    "answer_range": "Jawaban {value} untuk unsur {column} di luar skala jawaban. Isi dalam skala yang berlaku, "
                    "atau kosongkan bila tidak dijawab.",
    # the runner's checks across rows and tables (expectations/checks.py)
    "bad_row_share": "Baris bermasalah di tabel {table} ({value}) melebihi batas siklus ini, sehingga seluruh "
                     "kiriman ditolak. Perbaiki baris-baris yang tercantum, lalu kirim ulang.",
    "incomplete_unit": "Unit {value} belum diberi skor pada semua indikator siklus ini: unit tidak mendapat IPP "
                       "sampai semua indikator dinilai. Tambahkan skor yang kurang ke evaluations.",
    "sample_too_small": "Jumlah responden survei unit ini kurang dari sampel minimum (Krejcie-Morgan) untuk {value} "
                        "pengguna layanan per tahun: unit tidak dapat menerima penghargaan. Kumpulkan tambahan "
                        "responden sebelum jendela survei ditutup.",
    # the Ombudsman's compliance feed (expectations/compliance.json, expectations/compliance.py)
    "body_known": "Kode badan {value} tidak dikenal: bukan kode provinsi, kabupaten/kota (Kemendagri, mis. 36 "
                  "atau 36.71) atau K/L (kode Bagian Anggaran, mis. 027). Baris tidak dipakai; perbaiki kodenya.",
    "unique_assessment": "Badan {value} (dengan unit_id yang sama, atau sebagai keseluruhan) dinilai lebih dari "
                         "sekali. Sisakan satu baris per badan atau unit; semua salinannya tidak dipakai.",
    "compliance_range": "Nilai {value} di kolom {column} di luar rentang 0-100. Perbaiki nilainya; baris tidak "
                        "dipakai.",
    "compliance_columns": "Tabel compliance tidak memuat keempat kolom dimensi (input, proses, output, pengaduan) "
                          "maupun kolom score. Tambahkan kolomnya, lalu kirim ulang.",
    "compliance_incomplete": "Baris ini tidak memuat keempat nilai dimensi maupun nilai akhir (score). Lengkapi "
                             "nilainya; baris tidak dipakai.",
    "score_mismatch": "Nilai akhir {value} tidak sesuai dengan nilai dimensinya menurut bobot siklus ini (kedua "
                      "nilai disebut pada pesan di bawah). Perbaiki nilai akhir atau dimensinya; baris tidak dipakai.",
    "no_ombudsman_method": "Metodologi siklus ini tidak memuat bagian [ombudsman], sehingga umpan kepatuhan tidak "
                           "dapat dinilai. Tambahkan bagian tersebut, lalu jalankan ulang siklusnya.",
}
"""Bahasa Indonesia per rule. A rule missing here is shown with its English message only (a test
checks every rule the suites and the runner name is here)."""


def one_line(text: object) -> str:
    """Text on one line, runs of whitespace (line breaks included) as one space: for reasons and log lines,
    where a region's folder name such as 'kiriman<newline>baru' must not break the line."""
    return " ".join(str(text).split())


def rule_text(rule: str, english: str | None, *, table: str = "", column: str | None = None,
              value: str | None = None, row: int | None = None, lang: str = DEFAULT_LANGUAGE) -> tuple[str, str | None]:
    """(text shown first, text shown beside it or None) for one problem in `lang`.

    Bahasa Indonesia: the catalogue's text, with the issue's English message beside it. English
    (or a rule the catalogue lacks): the English message alone.
    """
    english = " ".join((english or "").split())
    template = RULE_TEXT_ID.get(rule) if lang == "id" else None
    if template is None:
        return english, None
    fields = {"table": table, "column": column or "", "value": "(kosong)" if value is None else value,
              "row": "-" if row is None else str(row)}
    text = string.Formatter().vformat(template, (), fields)
    return text, english or None


REASON_TEXT: Mapping[str, tuple[str, str]] = {
    # why a unit may not be honoured (unit_scores.ineligible_reason), one text per failed rule
    "no_ipp": ("tidak ada IPP: status {status}, {scored} dari {total} indikator dinilai (require_complete)",
               "no IPP: status {status}, {scored} of {total} indicators scored (require_complete)"),
    "no_survey": ("tidak ada survei: 0 responden, padahal siklus ini mensyaratkan sampel survei "
                  "(require_survey_sample)",
                  "no survey: 0 respondents, and the cycle requires the survey sample (require_survey_sample)"),
    "no_population": ("jumlah pengguna layanan per tahun tidak diisi (annual_service_users kosong): sampel survei "
                      "tidak dapat dipenuhi (require_survey_sample)",
                      "no declared population (annual_service_users empty): the survey sample cannot be met "
                      "(require_survey_sample)"),
    "sample_not_met": ("sampel survei belum terpenuhi: {n} dari {required} responden untuk {users} pengguna "
                       "layanan per tahun (Krejcie-Morgan; require_survey_sample)",
                       "survey sample not met: {n} of {required} respondents for {users} yearly service users "
                       "(Krejcie-Morgan; require_survey_sample)"),
    "no_f03": ("tidak ada IPP: tidak ada jawaban F-03 (formulir warga), padahal siklus ini memadukan F-03 "
               '([f03] without_f03 = "not_scored")',
               'no IPP: no F-03 (citizen form) answer, and the cycle blends F-03 ([f03] without_f03 = "not_scored")'),
    # the rules that admitted an eligible unit (part of every unit award's reason)
    "eligible_complete": ("layak: semua {total} indikator dinilai (require_complete)",
                          "eligible: all {total} indicators scored (require_complete)"),
    "sample_met": ("sampel survei terpenuhi, {n} responden dari {required} yang disyaratkan untuk {users} "
                   "pengguna layanan per tahun (Krejcie-Morgan; require_survey_sample)",
                   "survey sample met, {n} respondents of {required} required for {users} yearly service users "
                   "(Krejcie-Morgan; require_survey_sample)"),
    "sample_not_required": ("sampel survei tidak disyaratkan (require_survey_sample = false)",
                            "survey sample not required (require_survey_sample = false)"),
    # why a recipient is on the roster (award_roster.reason)
    "award_predicate": ("predikat {predicate} ({label}) dengan IPP {ipp}; {note}",
                        "predicate {predicate} ({label}) with IPP {ipp}; {note}"),
    "award_top_n": ("peringkat {rank} di antara unit {unit_type} yang layak, dengan IPP {ipp} ({predicate}); {note}",
                    "rank {rank} of eligible {unit_type} units with IPP {ipp} ({predicate}); {note}"),
    "award_improved": ("IPP naik {gain} dari {previous} (siklus sebelumnya dihitung ulang dengan metodologi {cycle}) "
                       "menjadi {ipp} ({predicate}); {note}",
                       "IPP rose by {gain} from {previous} (previous cycle recomputed under {cycle} methodology) "
                       "to {ipp} ({predicate}); {note}"),
    "award_region": ("IPP gabungan {ipp} ({label}); lokus terpenuhi: {scored} dari {units} unit lokus dinilai "
                     "(minimal {share}, min_scored_share); peringkat {rank} di antara badan {category}",
                     "roll-up IPP {ipp} ({label}); lokus covered: {scored} of {units} lokus units scored (at least "
                     "{share} required, min_scored_share); rank {rank} among {category} bodies"),
    # why a body whose predicate an award honours is left out
    "lokus_not_covered": ("lokus belum terpenuhi: {scored} dari {units} unit lokus dinilai (minimal {share}, "
                          "min_scored_share){missing}",
                          "lokus not covered: {scored} of {units} lokus units scored (at least {share} required, "
                          "min_scored_share){missing}"),
    "lokus_missing": ("; jenis unit lokus yang tidak dikirim: {types}", "; lokus unit types not sent: {types}"),
}
"""Award and eligibility reasons, (Bahasa Indonesia, English) per key, with named `{fields}`."""

DECIMAL_MARK = {"id": ",", "en": "."}
"""The decimal mark of figures inside a reason: a committee reads 4,56 in Bahasa, 4.56 in English."""


def reason_expr(key: str, lang: str, **fields: pl.Expr | str | int) -> pl.Expr:
    """The reason `key` in `lang` as a Polars text expression, its `{fields}` filled from expressions."""
    template = REASON_TEXT[key][LANGUAGES.index(check_language(lang))]
    pieces: list[str] = []
    args: list[pl.Expr] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        pieces.append(literal)  # catalogue templates hold no literal braces
        if name is not None:
            pieces.append("{}")
            value = fields[name]
            args.append(value if isinstance(value, pl.Expr) else pl.lit(str(value)))
    return pl.format("".join(pieces), *args) if args else pl.lit("".join(pieces))


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return lang


__all__ = ["DECIMAL_MARK", "DEFAULT_LANGUAGE", "LANGUAGES", "REASON_TEXT", "RULE_TEXT_ID", "check_language",
           "reason_expr", "rule_text"]
