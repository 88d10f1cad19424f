//! Parse and emit of PPTP control messages (SCCRQ, OCRQ, SLI, Echo-Request),
//! per message, with throughput in bytes.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pptp_core::wire::control::{
    BearerCapabilities, ControlRepr, EchoRequest, FramingCapabilities, Ocrq, Sccrq, Sli,
    MAX_MESSAGE_LEN, PROTOCOL_VERSION,
};

fn messages() -> [(&'static str, ControlRepr<'static>); 4] {
    [
        (
            "sccrq",
            ControlRepr::Sccrq(Sccrq {
                protocol_version: PROTOCOL_VERSION,
                framing_capabilities: FramingCapabilities::ASYNC,
                bearer_capabilities: BearerCapabilities::ANALOG,
                maximum_channels: 0,
                firmware_revision: 0,
                host_name: b"local",
                vendor_string: b"9x",
            }),
        ),
        (
            "ocrq",
            ControlRepr::Ocrq(Ocrq {
                call_id: 0,
                call_serial_number: 0,
                minimum_bps: 56_000,
                maximum_bps: 64_000,
                bearer_type: BearerCapabilities::ANY,
                framing_type: FramingCapabilities::EITHER,
                packet_recv_window_size: 16,
                packet_processing_delay: 0,
                phone_number_length: 0,
                phone_number: b"",
                subaddress: b"",
            }),
        ),
        (
            "sli",
            ControlRepr::Sli(Sli {
                peer_call_id: 9,
                send_accm: 0xffff_ffff,
                receive_accm: 0xffff_ffff,
            }),
        ),
        (
            "echo_request",
            ControlRepr::EchoRequest(EchoRequest { identifier: 1 }),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    for (name, repr) in messages() {
        let mut bytes = [0u8; MAX_MESSAGE_LEN];
        let len = repr.emit(&mut bytes).expect("emit");
        let wire = &bytes[..len];

        let mut group = c.benchmark_group(format!("pptp_control/{name}"));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function("parse", |b| {
            b.iter(|| ControlRepr::parse_bytes(black_box(wire)).expect("parse"))
        });
        group.bench_function("emit", |b| {
            let mut out = [0u8; MAX_MESSAGE_LEN];
            b.iter(|| black_box(&repr).emit(black_box(&mut out)).expect("emit"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
