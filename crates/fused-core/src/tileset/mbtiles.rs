//! MBTiles 1.3 (<https://github.com/mapbox/mbtiles-spec>): tiles in SQLite, rows in TMS
//! order (`tile_row = 2^z - 1 - y`). Written with the deduplicating layout many tools use:
//! `images` (one row per distinct content) + `map` (one row per tile) and a `tiles` view
//! joining them, so readers that `SELECT ... FROM tiles` see the standard table.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::tiles::Tile;
use crate::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE metadata (name TEXT NOT NULL, value TEXT);
CREATE UNIQUE INDEX metadata_name ON metadata (name);
CREATE TABLE images (tile_id INTEGER PRIMARY KEY, tile_data BLOB NOT NULL);
CREATE TABLE map (zoom_level INTEGER NOT NULL, tile_column INTEGER NOT NULL,
                  tile_row INTEGER NOT NULL, tile_id INTEGER NOT NULL);
CREATE UNIQUE INDEX map_index ON map (zoom_level, tile_column, tile_row);
CREATE VIEW tiles AS
  SELECT map.zoom_level AS zoom_level, map.tile_column AS tile_column,
         map.tile_row AS tile_row, images.tile_data AS tile_data
  FROM map JOIN images ON images.tile_id = map.tile_id;
";

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::tileset(path.display().to_string(), format!("SQLite: {e}"))
}

/// TMS row of an XYZ tile.
pub fn tms_row(t: Tile) -> u32 {
    ((1u64 << t.z) - 1 - u64::from(t.y)) as u32
}

pub struct MbtilesBuilder {
    conn: Connection,
    path: std::path::PathBuf,
    next_id: u32,
}

impl MbtilesBuilder {
    /// A new database at `path` (replaced if present), inside one transaction until
    /// [`MbtilesBuilder::finish`].
    pub fn create(path: &Path) -> Result<Self> {
        let _ = std::fs::remove_file(path);
        let conn = Connection::open(path).map_err(sql(path))?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA page_size = 4096;",
        )
        .map_err(sql(path))?;
        conn.execute_batch(SCHEMA).map_err(sql(path))?;
        conn.execute_batch("BEGIN").map_err(sql(path))?;
        Ok(MbtilesBuilder {
            conn,
            path: path.to_path_buf(),
            next_id: 0,
        })
    }

    pub fn add_content(&mut self, _hash: &[u8; 32], data: &[u8]) -> Result<u32> {
        let id = self.next_id;
        self.conn
            .prepare_cached("INSERT INTO images (tile_id, tile_data) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![id, data]))
            .map_err(sql(&self.path))?;
        self.next_id += 1;
        Ok(id)
    }

    pub fn add_tile(&mut self, t: Tile, content: u32) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO map (zoom_level, tile_column, tile_row, tile_id) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![t.z, t.x, tms_row(t), content]))
            .map_err(sql(&self.path))?;
        Ok(())
    }

    /// Write the metadata rows and commit.
    pub fn finish(self, metadata: &[(String, String)]) -> Result<()> {
        let err = sql(&self.path);
        {
            let mut stmt = self
                .conn
                .prepare("INSERT OR REPLACE INTO metadata (name, value) VALUES (?1, ?2)")
                .map_err(&err)?;
            for (k, v) in metadata {
                stmt.execute(params![k, v]).map_err(&err)?;
            }
        }
        self.conn.execute_batch("COMMIT").map_err(&err)?;
        self.conn.close().map_err(|(_, e)| err(e))?;
        Ok(())
    }
}

/// A read-only MBTiles database, its schema checked when opened.
pub struct MbtilesReader {
    conn: Connection,
    path: std::path::PathBuf,
}

impl MbtilesReader {
    pub fn open(path: &Path) -> Result<Self> {
        let mut head = [0u8; 16];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            f.read_exact(&mut head).map_err(|_| {
                Error::tileset(
                    path.display().to_string(),
                    "not an SQLite database (too short)",
                )
            })?;
        }
        if &head != b"SQLite format 3\0" {
            return Err(Error::tileset(
                path.display().to_string(),
                "not an MBTiles file (no SQLite magic bytes)",
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql(path))?;
        let reader = MbtilesReader {
            conn,
            path: path.to_path_buf(),
        };
        reader.check_schema()?;
        Ok(reader)
    }

    fn check_schema(&self) -> Result<()> {
        let err = sql(&self.path);
        for (table, columns) in [
            ("metadata", &["name", "value"][..]),
            (
                "tiles",
                &["zoom_level", "tile_column", "tile_row", "tile_data"][..],
            ),
        ] {
            let mut stmt = self
                .conn
                .prepare("SELECT name FROM pragma_table_info(?1)")
                .map_err(&err)?;
            let have: Vec<String> = stmt
                .query_map([table], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(&err)?;
            let missing: Vec<&str> = columns
                .iter()
                .copied()
                .filter(|c| !have.iter().any(|h| h.eq_ignore_ascii_case(c)))
                .collect();
            if !missing.is_empty() {
                return Err(Error::tileset(
                    self.path.display().to_string(),
                    format!(
                        "not an MBTiles file: table or view {table:?} lacks column(s) {}",
                        missing.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The stored bytes of an XYZ tile, or `None`.
    pub fn get(&self, t: Tile) -> Result<Option<Vec<u8>>> {
        self.conn
            .prepare_cached(
                "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 \
                 AND tile_row = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![t.z, t.x, tms_row(t)], |r| r.get(0))
                    .optional()
            })
            .map_err(sql(&self.path))
    }

    /// The `metadata` table.
    pub fn metadata(&self) -> Result<BTreeMap<String, String>> {
        let err = sql(&self.path);
        let mut stmt = self
            .conn
            .prepare("SELECT name, value FROM metadata")
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(&err)?;
        Ok(rows
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect())
    }
}
