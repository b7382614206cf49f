//! The backup file: every kind of damage loads what is valid and reports
//! what is not; files that are not ours are refused and left untouched.

use dave::backup::{self, Backup, BackupError};
use dave_core::{Config, Dat};
use dave_core::{Node, Now};
use ed25519_dalek::SigningKey;
use std::io::Cursor;
use std::path::PathBuf;

const T0_MS: u64 = 1_763_700_000_000;

fn node() -> Node {
    let mut n = Node::new(Config::default().with_dat_cap(10_000));
    n.handle_tick(Now {
        epoch: 1,
        unix_ms: T0_MS,
    });
    n
}

/// `k` valid dats and the backup file bytes holding them, with each
/// record's offset.
fn fixture(k: usize) -> (Vec<Dat>, Vec<u8>, Vec<usize>) {
    let who = SigningKey::from_bytes(&[7; 32]);
    let mut dats = Vec::new();
    let mut file = Vec::new();
    let mut offs = Vec::new();
    for i in 0..k {
        let val = format!("value number {i} {}", "x".repeat(i * 7 % 300));
        let d = Dat::make(
            format!("k{i}").as_bytes(),
            val.as_bytes(),
            T0_MS - 1000 + i as u64,
            8,
            &who,
            1,
            None,
        )
        .unwrap()
        .0;
        let time = d.time_ms.to_le_bytes();
        let mut buf = [0u8; 1500];
        let n = dave_core::wire::encode_into(&d.msg(&time), &mut buf).unwrap();
        offs.push(file.len());
        file.extend_from_slice(&(n as u16).to_le_bytes());
        file.extend_from_slice(&buf[..n]);
        dats.push(d);
    }
    (dats, file, offs)
}

fn held(n: &Node, dats: &[Dat]) -> usize {
    dats.iter()
        .filter(|d| n.dat_by_work(&d.work).is_some())
        .count()
}

#[test]
fn an_intact_file_loads_everything() {
    let (dats, file, _) = fixture(40);
    let mut n = node();
    let rep = backup::load_into(Cursor::new(&file), &mut n, 2).unwrap();
    assert_eq!((rep.records, rep.loaded, rep.invalid), (40, 40, 0));
    assert!(rep.corrupt.is_empty() && rep.tail.is_none());
    assert_eq!(held(&n, &dats), 40);
    n.check_invariants().unwrap();
}

#[test]
fn a_truncated_last_record_is_cut_at_every_offset() {
    let (dats, file, offs) = fixture(12);
    let last = *offs.last().unwrap();
    for cut in last..file.len() {
        let mut n = node();
        let rep = backup::load_into(Cursor::new(&file[..cut]), &mut n, 2).unwrap();
        assert_eq!(rep.loaded, 11, "cut at {cut}");
        assert_eq!(held(&n, &dats[..11]), 11, "cut at {cut}");
        if cut == last {
            assert_eq!(rep.tail, None);
        } else {
            assert_eq!(
                rep.tail,
                Some((last as u64, (cut - last) as u64)),
                "cut at {cut}"
            );
        }
        assert!(rep.corrupt.is_empty(), "cut at {cut}: {:?}", rep.corrupt);
    }
}

#[test]
fn a_flipped_bit_costs_one_record() {
    let (dats, file, offs) = fixture(30);
    // Every bit of record 15, one at a time, including its length field.
    let (a, b) = (offs[15], offs[16]);
    for byte in a..b {
        for bit in 0..8 {
            let mut f = file.clone();
            f[byte] ^= 1 << bit;
            let mut n = node();
            let rep = backup::load_into(Cursor::new(&f), &mut n, 2).unwrap();
            let others: Vec<Dat> = dats
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 15)
                .map(|(_, d)| d.clone())
                .collect();
            assert_eq!(
                held(&n, &others),
                29,
                "byte {byte} bit {bit}: lost a neighbour"
            );
            assert!(
                n.dat_by_work(&dats[15].work).is_none() || f[a..b] == file[a..b],
                "byte {byte} bit {bit}: loaded a damaged dat"
            );
            assert!(
                rep.invalid + rep.corrupt.len() as u64 >= 1,
                "byte {byte} bit {bit}: damage not reported"
            );
            n.check_invariants().unwrap();
        }
    }
}

#[test]
fn empty_random_and_garbage_files_are_reported() {
    let mut n = node();
    let rep = backup::load_into(Cursor::new(Vec::<u8>::new()), &mut n, 1).unwrap();
    assert_eq!(
        rep,
        backup::LoadReport {
            elapsed: rep.elapsed,
            ..Default::default()
        }
    );

    let mut x = 0x2545f4914f6cdd1du64;
    let random: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let rep = backup::load_into(Cursor::new(&random), &mut n, 2).unwrap();
    assert_eq!(rep.loaded, 0);
    assert_eq!(rep.bad_bytes(), 100_000, "{rep:?}");

    // A record with a valid length but garbage content, between good ones.
    let (dats, file, offs) = fixture(5);
    let mut f = file[..offs[2]].to_vec();
    f.extend_from_slice(&300u16.to_le_bytes());
    f.extend(std::iter::repeat_n(0xee, 300));
    f.extend_from_slice(&file[offs[2]..]);
    let mut n = node();
    let rep = backup::load_into(Cursor::new(&f), &mut n, 2).unwrap();
    assert_eq!(held(&n, &dats), 5);
    assert_eq!(rep.corrupt, vec![(offs[2] as u64, 302)]);
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dave-backup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn open_rewrites_atomically_and_refuses_what_is_not_ours() {
    let dir = tmp("open");
    let path = dir.join("backup");
    let (dats, file, offs) = fixture(20);
    // A torn tail in the file on disk.
    std::fs::write(&path, &file[..file.len() - 3]).unwrap();
    let mut n = node();
    let (b, rep) = Backup::open(&path, &mut n, 2).unwrap();
    assert_eq!(rep.loaded, 19);
    assert_eq!(
        rep.tail,
        Some((offs[19] as u64, (file.len() - 3 - offs[19]) as u64))
    );
    // The rewritten file holds exactly the 19 good records, and loads clean.
    let mut n2 = node();
    let rep2 = backup::load_into(std::fs::File::open(&path).unwrap(), &mut n2, 2).unwrap();
    assert_eq!((rep2.loaded, rep2.tail), (19, None));
    assert_eq!(held(&n2, &dats), 19);
    drop(b);

    // A directory.
    assert!(matches!(
        Backup::open(&dir, &mut node(), 1),
        Err(BackupError::IsDir(_))
    ));
    // Another program's file: refused, untouched.
    let other = dir.join("notes.txt");
    let text = "these are someone's notes, not dave records\n".repeat(100);
    std::fs::write(&other, &text).unwrap();
    let e = Backup::open(&other, &mut node(), 1).err().expect("refused");
    assert!(matches!(e, BackupError::Foreign(_)), "{e}");
    assert!(e.to_string().contains("notes.txt") && e.to_string().contains("--backup"));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), text);
    // But one torn record (a crash during the very first append) is ours.
    let torn = dir.join("torn");
    std::fs::write(&torn, &file[..offs[1] - 5]).unwrap();
    let (_, rep) = Backup::open(&torn, &mut node(), 1).unwrap();
    assert_eq!(rep.loaded, 0);
    assert!(rep.tail.is_some());
    // A missing file is created.
    let fresh = dir.join("new");
    Backup::open(&fresh, &mut node(), 1).unwrap();
    assert!(fresh.exists());
}

#[test]
fn appended_dats_survive_a_clean_stop_and_peers_are_remembered() {
    let dir = tmp("append");
    let path = dir.join("backup");
    let (dats, _, _) = fixture(10);
    let mut cfg = Config::default().with_dat_cap(1000);
    cfg.track_novel = true;
    let mut n = Node::new(cfg.clone());
    n.handle_tick(Now {
        epoch: 1,
        unix_ms: T0_MS,
    });
    let (mut b, _) = Backup::open(&path, &mut n, 1).unwrap();
    for d in &dats {
        let time = d.time_ms.to_le_bytes();
        n.put(&d.msg(&time)).unwrap();
    }
    let peer: std::net::SocketAddr = "192.0.2.44:1618".parse().unwrap();
    dave_core::testing::handshake(&mut n, peer);
    assert!(n.peers().find(peer).is_some());
    b.after_turn(&mut n);
    assert_eq!(b.appended, 10);
    b.close(&mut n).unwrap();

    let mut n2 = Node::new(cfg);
    n2.handle_tick(Now {
        epoch: 1,
        unix_ms: T0_MS,
    });
    let (_, rep) = Backup::open(&path, &mut n2, 1).unwrap();
    assert_eq!(rep.loaded, 10);
    assert_eq!(held(&n2, &dats), 10);
    // A saved peer comes back as a candidate: it must prove its address
    // again before it is a peer.
    assert!(n2.peers().find(peer).is_none());
    assert_eq!(n2.candidates(), 1, "saved peer restored as a candidate");
}
