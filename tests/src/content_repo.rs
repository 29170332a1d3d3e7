//! A content repository for tests: a bare git repository (the "remote" plaza clones) and a working copy that
//! commits and pushes to it, seeded with the content bundled into plaza under `content/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A bare remote plus a working copy, deleted on drop.
pub struct ContentRepo {
    _dir: tempfile::TempDir,
    /// The bare repository (`CONTENT_REPO_REMOTE`).
    pub remote: PathBuf,
    work: PathBuf,
}

impl ContentRepo {
    /// A remote whose `main` branch holds the repository's own `content/` folder.
    pub fn seeded() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let remote = dir.path().join("remote.git");
        let work = dir.path().join("work");
        git(
            dir.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                "remote.git",
            ],
        );
        git(
            dir.path(),
            &["init", "--quiet", "--initial-branch=main", "work"],
        );
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../content"),
            &work.join("content"),
        );
        let repo = Self {
            _dir: dir,
            remote,
            work,
        };
        git(
            &repo.work,
            &["remote", "add", "origin", &repo.remote.to_string_lossy()],
        );
        repo.commit("seed content");
        repo
    }

    /// The `CONTENT_REPO_*` variables pointing plaza at this remote.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "CONTENT_REPO_REMOTE",
                self.remote.to_string_lossy().into_owned(),
            ),
            ("CONTENT_REPO_BRANCH", "main".into()),
            ("CONTENT_REPO_PATH", "content".into()),
        ]
    }

    /// Writes `text` to `content/<path>` in the working copy (not committed yet).
    pub fn write(&self, path: &str, text: &str) {
        let file = self.work.join("content").join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }

    /// Commits everything and pushes `main` to the remote.
    pub fn commit(&self, message: &str) {
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &[
                "-c",
                "user.name=Test Organiser",
                "-c",
                "user.email=organiser@example.org",
                "commit",
                "--quiet",
                "-m",
                message,
            ],
        );
        git(&self.work, &["push", "--quiet", "origin", "main"]);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read content") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}
