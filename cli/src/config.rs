//! failsh configuration model (placeholder, filled below).
