"""The catalogue of what a region officer reads about a problem: one Bahasa Indonesia text per rule.

Every validation rule (reader, intake, suites, runner) is keyed here by its `rule` name. The issue
rows in `validation_issues` keep their detailed English `message` (with the cycle's lists and
limits filled in); the pages people read show the catalogue's Bahasa Indonesia text first and that
English message beside it, or English alone with `lang="en"` (`pekppp validate --lang en`).
Templates may use `{table}`, `{column}`, `{value}` and `{row}` of the issue.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

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
    "survey_window": "Tanggal survei {value} di luar jendela survei siklus ini. Perbaiki tanggalnya (YYYY-MM-DD).",
    "answer_range": "Jawaban {value} untuk unsur {column} di luar skala jawaban. Isi dalam skala yang berlaku, "
                    "atau kosongkan bila tidak dijawab.",
    # the runner's checks across rows and tables (expectations/runner.py)
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


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return lang


__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "RULE_TEXT_ID", "check_language", "rule_text"]
