//! `Query::matches` must not allocate: it runs for every log against every pipeline filter.
//! A counting global allocator checks it (this file holds a single test, so no other test
//! thread allocates meanwhile).

use hydrant_query::{parse, JsonLog};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn matches_does_not_allocate() {
    let queries = [
        "service:aws source:aws",
        "kube_namespace:fargate-namespace @kubernetes.namespace_name:fargate-namespace",
        "\"Network Error\" OR retr* OR *ETWOR* status:ERROR env:pr*",
        "@http.status_code:[200 TO 299] @http.status_code:2* @http.duration:>10 @http.method:[A TO Z]",
        "@code:<abc @code:>=100 -@missing:* _exists_:env tags:standalone",
        "@Event.Data.Name:ObjectServer @Event.Data.Value:>5 @aws.firehose.arn:arn*",
        "CIDR(@network.client.ip, 10.0.0.0/8, 2001:db8::/32) @users.names:Pa*",
        "échec message:* host:ip-* -team:* env:[a TO z]",
    ];
    let queries: Vec<_> = queries.iter().map(|q| parse(q).unwrap()).collect();
    let log = JsonLog::new(json!({
        "message": "GET /api/v1/users 200: Network-Error retry Échec",
        "host": "ip-10-0-1-5", "service": "aws", "source": "aws", "status": "Error",
        "tags": ["kube_namespace:fargate-namespace", "env:prod", "standalone"],
        "attributes": {
            "kubernetes": {"namespace_name": "fargate-namespace"},
            "http": {"status_code": 200, "duration": 35.5, "method": "GET"},
            "code": 200,
            "users": {"names": ["Peter", "Paul"]},
            "Event": {"Data": [{"Name": "ObjectServer"}, {"Value": 7}]},
            "aws.firehose.arn": "arn:aws:firehose:x",
            "network": {"client": {"ip": "10.1.2.3"}}
        }
    }));
    let mut matched = 0;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..100 {
        for q in &queries {
            matched += usize::from(q.matches(&log));
        }
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "Query::matches allocated");
    assert_eq!(matched, 100 * queries.len(), "every query matches this log");
}
