//! Times a server from process start to its first 200 (bench/start.sh):
//!
//!   first-answer ADDR PATH RUNS -- COMMAND [ARGS...]
//!
//! Starts COMMAND, then connects to ADDR and sends `GET PATH` over HTTP/1.1, again every
//! 100 µs until the answer is 200; prints the time in ms; kills the server and waits for the
//! port to be free; RUNS times (after one untimed run that warms the page cache). Prints one
//! line per run, then `median <ms>`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn answered_200(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--");
    let (Some(split), true) = (split, args.len() > 4) else {
        eprintln!("usage: first-answer ADDR PATH RUNS -- COMMAND [ARGS...]");
        std::process::exit(2);
    };
    let addr: SocketAddr = args[0].parse().expect("ADDR: host:port");
    let path = &args[1];
    let runs: usize = args[2].parse().expect("RUNS: a number");
    let command = &args[split + 1..];
    let mut times = Vec::new();
    for run in 0..=runs {
        let started = Instant::now();
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", command[0]));
        loop {
            if answered_200(addr, path) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{} exited ({status}) before answering", command[0]);
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no 200 within 30 s"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        let took = started.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        while TcpStream::connect(addr).is_ok() {
            std::thread::sleep(Duration::from_millis(1));
        }
        if run > 0 {
            println!("{:.2}", took.as_secs_f64() * 1000.0);
            times.push(took);
        }
    }
    times.sort();
    println!(
        "median {:.2}",
        times[times.len() / 2].as_secs_f64() * 1000.0
    );
}
