//! The stdout and null outputs as the router runs them.

mod support;

use support::*;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn stdout_prints_each_chunk_and_completes_its_ack() {
    let ctx = context("stdout.0", &[]);
    let plugin = section("stdout", &[("Format", "json_lines"), ("json_date_format", "epoch")]);
    let (writer, mut reader) = tokio::io::duplex(1 << 16);
    let out = hydrant_outputs::StdoutOutput::from_plugin(&plugin, &ctx).unwrap().with_writer(writer);
    let events = Events::default();
    let (tx, task) = start(Box::new(out));
    tx.send(chunk(vec![log_record("one", 10), log_record("two", 11)], events.ack("s"))).await.unwrap();
    drop(tx);
    task.await.unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "{\"date\":10,\"log\":\"one\"}\n{\"date\":11,\"log\":\"two\"}\n");
    assert_eq!(events.list(), vec!["ack s delivered"]);
    assert_eq!(counter(&ctx, "records"), 2);
    assert_eq!(counter(&ctx, "bytes"), text.len() as u64);
}

#[tokio::test]
async fn null_counts_and_completes_at_once() {
    let ctx = context("null.0", &[]);
    let out = hydrant_outputs::build(&section("null", &[("Match", "*")]), &ctx).unwrap();
    let events = Events::default();
    let (tx, task) = start(out);
    for i in 0..3 {
        tx.send(chunk(vec![log_record("x", 0); 100], events.ack(&i.to_string()))).await.unwrap();
    }
    drop(tx);
    task.await.unwrap();
    assert_eq!(events.list(), vec!["ack 0 delivered", "ack 1 delivered", "ack 2 delivered"]);
    assert_eq!(counter(&ctx, "records"), 300);
}
