//! PNG export of the charts with resvg, using an embedded DejaVu Sans so the output does not
//! depend on the fonts installed on the machine.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Pixels per SVG unit: charts are drawn at twice their CSS size for crisp text.
const SCALE: f32 = 2.0;

/// Rasterizes SVG documents with a fixed, embedded font set.
#[derive(Debug)]
pub struct Rasterizer {
    options: resvg::usvg::Options<'static>,
}

impl Default for Rasterizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Rasterizer {
    /// A rasterizer whose only fonts are DejaVu Sans regular and bold, also used for the generic
    /// `sans-serif` family.
    pub fn new() -> Self {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.load_font_data(dejavu::sans::bold().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        let options = resvg::usvg::Options {
            font_family: "DejaVu Sans".into(),
            fontdb: Arc::new(db),
            ..Default::default()
        };
        Rasterizer { options }
    }

    /// PNG bytes of one SVG document.
    pub fn png(&self, svg: &str) -> anyhow::Result<Vec<u8>> {
        let tree = resvg::usvg::Tree::from_str(svg, &self.options).context("parsing chart SVG")?;
        let size = tree.size();
        let w = (size.width() * SCALE).ceil() as u32;
        let h = (size.height() * SCALE).ceil() as u32;
        let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h)
            .with_context(|| format!("allocating a {w}x{h} image"))?;
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::from_scale(SCALE, SCALE),
            &mut pixmap.as_mut(),
        );
        pixmap.encode_png().context("encoding PNG")
    }
}

/// Write `charts` as `DIR/<slug>.png`, creating DIR; returns the paths written.
pub fn write_all(dir: &Path, charts: &[super::build::Chart]) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let r = Rasterizer::new();
    let mut written = Vec::with_capacity(charts.len());
    for c in charts {
        let path = dir.join(format!("{}.png", c.slug));
        let bytes = r
            .png(&c.svg)
            .with_context(|| format!("rendering chart {}", c.slug))?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::report::svg::{Anchor, Svg, TextStyle};

    #[test]
    fn renders_text_with_the_embedded_font() {
        let r = Rasterizer::new();
        let blank = Svg::new(120.0, 40.0, "t").finish();
        let mut with_text = Svg::new(120.0, 40.0, "t");
        with_text.text(10.0, 25.0, "VALID <&>", TextStyle::new(16.0, Anchor::Start));
        let a = r.png(&blank).unwrap();
        let b = r.png(&with_text.finish()).unwrap();
        assert_eq!(&a[..8], b"\x89PNG\r\n\x1a\n");
        // Decode-free check: the text image differs from the blank one (glyphs were drawn).
        assert_ne!(a, b);
        let tree_text = resvg::usvg::Tree::from_str(
            &{
                let mut s = Svg::new(120.0, 40.0, "t");
                s.text(10.0, 25.0, "abc", TextStyle::new(16.0, Anchor::Start));
                s.finish()
            },
            &r.options,
        )
        .unwrap();
        // Text is converted to paths only when a font was found.
        assert!(tree_text.root().has_children());
        let bbox = tree_text.root().abs_bounding_box();
        assert!(bbox.width() > 10.0, "glyph outlines have a width: {bbox:?}");
    }
}
