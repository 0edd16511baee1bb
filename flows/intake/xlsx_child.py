"""An Excel sheet read in a child process under an address-space limit, so a reader abort harms no one.

The Excel reader is native code that allocates what a workbook declares and aborts the process when
an allocation fails (no Python exception to catch). The sheet checks in `limits.py` refuse the known
ways to make it allocate too much; this is the fence behind them: the child sets RLIMIT_AS on itself
before importing the reader, reads the sheet as text cells, and hands them back as an Arrow IPC file.
An abort, out-of-memory or timeout there rejects the file; the run and the other bundles go on.

Run as a script (`python xlsx_child.py FILE TABLE OUT MEMORY_BYTES`), it imports only the standard
library, fastexcel and pyarrow (~0.2 s). Exit 0: OUT written; 3: the workbook has no sheet; 2: the
reader said the file is damaged (its words on stderr).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

EXIT_NO_SHEET = 3
EXIT_DAMAGED = 2
SHEET_KEY = b"pekppp_sheet"


class XlsxReadFailed(Exception):
    """The child could not read the workbook; `damaged` when the reader said so, else it died or timed out."""

    def __init__(self, message: str, *, damaged: bool) -> None:
        super().__init__(message)
        self.damaged = damaged


@dataclass(frozen=True)
class SheetCells:
    sheet: str
    arrow_file: Path


def read_sheet(path: Path, table: str, memory_bytes: int, timeout_s: float, work: Path) -> SheetCells | None:
    """The sheet named like `table` (any case), else the first, as text cells in an Arrow file under `work`.

    None when the workbook has no sheet. Raises `XlsxReadFailed`.
    """
    out = Path(tempfile.mkstemp(prefix="sheet-", suffix=".arrow", dir=work)[1])
    try:
        done = subprocess.run([sys.executable, __file__, str(path), table, str(out), str(memory_bytes)],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise XlsxReadFailed(f"reading it took longer than {timeout_s:g} s", damaged=False) from None
    if done.returncode == EXIT_NO_SHEET:
        return None
    if done.returncode == EXIT_DAMAGED:
        raise XlsxReadFailed(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "damaged",
                             damaged=True)
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else how
        raise XlsxReadFailed(f"the Excel reader stopped ({how}: {' '.join(last.split())[:200]})", damaged=False)
    import pyarrow.ipc as ipc

    with ipc.open_file(out) as reader:
        sheet = (reader.schema.metadata or {}).get(SHEET_KEY, b"").decode()
    return SheetCells(sheet, out)


def _child(path: str, table: str, out: str, memory_bytes: int) -> int:
    import resource

    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    import fastexcel
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        workbook = fastexcel.read_excel(path)
        names = workbook.sheet_names
        if not names:
            return EXIT_NO_SHEET
        sheet = next((n for n in names if n.strip().lower() == table), names[0])
        cells = workbook.load_sheet(sheet, header_row=None, dtypes="string").to_arrow()
    except fastexcel.FastExcelError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_DAMAGED
    table_ = pa.Table.from_batches([cells]) if isinstance(cells, pa.RecordBatch) else cells
    table_ = table_.replace_schema_metadata({SHEET_KEY: sheet.encode()})
    with ipc.new_file(out, table_.schema) as writer:
        writer.write_table(table_)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
