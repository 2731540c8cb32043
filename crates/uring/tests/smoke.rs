use std::sync::mpsc;
use uring::*;

#[test]
fn smoke() {
    let (tx, rx) = mpsc::channel();
    let w = Worker::start(
        &EngineConfig::default(),
        Box::new(move |c: &mut Vec<Completion>| {
            for x in c.drain(..) {
                tx.send(x).unwrap();
            }
        }),
    )
    .unwrap();
    eprintln!("{:?}", w.info());
    let mut reqs = vec![Request { user_data: 7, op: Op::Nop }];
    unsafe { w.submit(&mut reqs).unwrap() };
    let c = rx.recv().unwrap();
    assert_eq!(c, Completion { user_data: 7, result: 0 });
    eprintln!("{:?}", probe(8, None));
    w.shutdown();
}
