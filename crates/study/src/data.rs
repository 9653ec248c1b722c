//! The study's raw data on disk: `raw.csv` (one row per timed call) and `cells.csv` (how each
//! system × size ended), appended cell by cell and read back to resume or to report.

use std::fs::OpenOptions;
use std::path::Path;

use anyhow::Context as _;

/// `raw.csv`'s header.
pub const RAW_HEADER: [&str; 6] = [
    "system",
    "n",
    "run",
    "client_ms",
    "server_ms",
    "peak_rss_kb",
];
/// `cells.csv`'s header.
pub const CELLS_HEADER: [&str; 4] = ["system", "n", "status", "detail"];

/// One timed call.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The system's id.
    pub system: String,
    /// The matrix size.
    pub n: usize,
    /// 1-based.
    pub run: usize,
    /// Send to last byte, in ms; `None` for a call stopped at the budget (`timeout`).
    pub client_ms: Option<f64>,
    /// The server's own compute time from its answer.
    pub server_ms: Option<f64>,
    /// The server process tree's peak resident memory over the cell, in KiB.
    pub peak_rss_kb: Option<u64>,
}

impl Row {
    /// A run that was stopped, or not started, because it would exceed the budget.
    pub fn timeout(system: &str, n: usize, run: usize, peak_rss_kb: Option<u64>) -> Self {
        Self {
            system: system.into(),
            n,
            run,
            client_ms: None,
            server_ms: None,
            peak_rss_kb,
        }
    }

    fn record(&self) -> [String; 6] {
        [
            self.system.clone(),
            self.n.to_string(),
            self.run.to_string(),
            self.client_ms
                .map_or_else(|| "timeout".into(), |ms| format!("{ms:.4}")),
            self.server_ms
                .map(|ms| format!("{ms:.3}"))
                .unwrap_or_default(),
            self.peak_rss_kb
                .map(|kb| kb.to_string())
                .unwrap_or_default(),
        ]
    }

    fn from_record(record: &csv::StringRecord) -> anyhow::Result<Self> {
        let field = |i: usize| record.get(i).unwrap_or_default();
        let number = |i: usize| -> anyhow::Result<Option<f64>> {
            match field(i) {
                "" | "timeout" => Ok(None),
                text => Ok(Some(text.parse()?)),
            }
        };
        Ok(Self {
            system: field(0).into(),
            n: field(1).parse()?,
            run: field(2).parse()?,
            client_ms: number(3)?,
            server_ms: number(4)?,
            peak_rss_kb: match field(5) {
                "" => None,
                text => Some(text.parse()?),
            },
        })
    }
}

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellStatus {
    /// Every run measured.
    Done,
    /// A call ran past the budget; the rest of the cell is `timeout`.
    Timeout,
    /// Not run: the previous size's time, scaled by n³, exceeds the budget (or it timed out).
    PredictedTimeout,
    /// The server answered a wrong checksum: the system is not reported.
    Refused,
    /// The server did not start or failed to answer.
    Failed,
}

impl CellStatus {
    /// As written in `cells.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Timeout => "timeout",
            Self::PredictedTimeout => "predicted-timeout",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Done,
            Self::Timeout,
            Self::PredictedTimeout,
            Self::Refused,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One system × size.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The system's id.
    pub system: String,
    /// The size.
    pub n: usize,
    /// How it ended.
    pub status: CellStatus,
    /// Why, for anything but `done`.
    pub detail: String,
}

impl Cell {
    /// A cell's outcome.
    pub fn new(system: &str, n: usize, status: CellStatus, detail: &str) -> Self {
        Self {
            system: system.into(),
            n,
            status,
            detail: detail.replace('\n', " "),
        }
    }
}

/// Reads `raw.csv`.
pub fn read_rows(out: &Path) -> anyhow::Result<Vec<Row>> {
    let path = out.join("raw.csv");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(&path)?;
    reader
        .records()
        .map(|record| Row::from_record(&record?))
        .collect::<anyhow::Result<_>>()
        .with_context(|| format!("reading {}", path.display()))
}

/// Reads `cells.csv`.
pub fn read_cells(out: &Path) -> anyhow::Result<Vec<Cell>> {
    let path = out.join("cells.csv");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(&path)?;
    let mut cells = Vec::new();
    for record in reader.records() {
        let record = record?;
        let status = CellStatus::parse(record.get(2).unwrap_or_default())
            .with_context(|| format!("a bad status in {}", path.display()))?;
        cells.push(Cell::new(
            record.get(0).unwrap_or_default(),
            record.get(1).unwrap_or_default().parse()?,
            status,
            record.get(3).unwrap_or_default(),
        ));
    }
    Ok(cells)
}

/// What an earlier, interrupted run left in `out`: the finished cells and their rows. A cell
/// counts as finished when `cells.csv` has it and, if it was measured, `raw.csv` holds all its
/// `runs` rows; anything else is dropped and measured again. Both files are rewritten with
/// what is kept.
pub fn resume(out: &Path, runs: usize) -> anyhow::Result<(Vec<Row>, Vec<Cell>)> {
    let rows = read_rows(out)?;
    let cells: Vec<Cell> = read_cells(out)?
        .into_iter()
        .filter(|cell| {
            let count = rows
                .iter()
                .filter(|r| r.system == cell.system && r.n == cell.n)
                .count();
            match cell.status {
                CellStatus::Refused | CellStatus::Failed => true,
                _ => count == runs,
            }
        })
        .collect();
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| cells.iter().any(|c| c.system == r.system && c.n == r.n))
        .collect();
    write(out, &rows, &cells)?;
    Ok((rows, cells))
}

/// Writes both files from scratch.
fn write(out: &Path, rows: &[Row], cells: &[Cell]) -> anyhow::Result<()> {
    let mut raw = csv::Writer::from_path(out.join("raw.csv"))?;
    raw.write_record(RAW_HEADER)?;
    for row in rows {
        raw.write_record(row.record())?;
    }
    raw.flush()?;
    let mut outcomes = csv::Writer::from_path(out.join("cells.csv"))?;
    outcomes.write_record(CELLS_HEADER)?;
    for cell in cells {
        outcomes.write_record(cell_record(cell))?;
    }
    outcomes.flush()?;
    Ok(())
}

fn cell_record(cell: &Cell) -> [String; 4] {
    [
        cell.system.clone(),
        cell.n.to_string(),
        cell.status.as_str().into(),
        cell.detail.clone(),
    ]
}

/// Appends one finished cell to both files.
pub fn append(out: &Path, rows: &[Row], cell: &Cell) -> anyhow::Result<()> {
    let open = |name: &str| {
        OpenOptions::new()
            .append(true)
            .open(out.join(name))
            .with_context(|| format!("appending to {name}"))
    };
    let mut raw = csv::Writer::from_writer(open("raw.csv")?);
    for row in rows {
        raw.write_record(row.record())?;
    }
    raw.flush()?;
    let mut outcomes = csv::Writer::from_writer(open("cells.csv")?);
    outcomes.write_record(cell_record(cell))?;
    outcomes.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(system: &str, n: usize, run: usize, ms: Option<f64>) -> Row {
        Row {
            system: system.into(),
            n,
            run,
            client_ms: ms,
            server_ms: ms.map(|m| m / 2.0),
            peak_rss_kb: Some(1000),
        }
    }

    #[test]
    fn an_interrupted_cell_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[], &[]).unwrap();
        let done: Vec<Row> = (1..=2).map(|r| row("a", 10, r, Some(1.5))).collect();
        append(dir.path(), &done, &Cell::new("a", 10, CellStatus::Done, "")).unwrap();
        let timeouts: Vec<Row> = (1..=2).map(|r| Row::timeout("a", 20, r, None)).collect();
        append(
            dir.path(),
            &timeouts,
            &Cell::new("a", 20, CellStatus::Timeout, "slow"),
        )
        .unwrap();
        // Rows of a cell whose outcome was never written: interrupted.
        append(
            dir.path(),
            &[row("b", 10, 1, Some(2.0))],
            &Cell::new("x", 1, CellStatus::Failed, ""),
        )
        .unwrap();

        let (rows, cells) = resume(dir.path(), 2).unwrap();
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|r| r.system == "a"));
        assert_eq!(rows[2], Row::timeout("a", 20, 1, None));
        assert_eq!(rows[0], done[0]);
        assert_eq!(cells.len(), 3, "{cells:?}");
        assert_eq!(read_rows(dir.path()).unwrap(), rows);
        let text = std::fs::read_to_string(dir.path().join("raw.csv")).unwrap();
        assert!(
            text.starts_with("system,n,run,client_ms,server_ms,peak_rss_kb\n"),
            "{text}"
        );
        assert!(text.contains("a,20,1,timeout,,\n"), "{text}");
    }
}
