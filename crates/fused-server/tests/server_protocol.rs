//! The worker protocol's framing, through the public API.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use fused_server::executor::protocol::{
    read_frame, read_json, write_frame, write_json, FrameError, Hello, Payload, Request,
    ResponseHeader, TileXyz, MAX_FRAME,
};

#[tokio::test]
async fn length_prefix_is_u32_little_endian() {
    let mut buf: Vec<u8> = Vec::new();
    write_frame(&mut buf, b"abc").await.unwrap();
    assert_eq!(buf, [3, 0, 0, 0, b'a', b'b', b'c']);
    let mut big = Vec::new();
    write_frame(&mut big, &vec![0u8; 0x0001_0203])
        .await
        .unwrap();
    assert_eq!(&big[..4], &[0x03, 0x02, 0x01, 0x00]);
}

#[tokio::test]
async fn json_frames_round_trip_over_a_pipe() {
    let (mut a, mut b) = tokio::io::duplex(16);
    let req = Request {
        task_id: "t-1".into(),
        udf: std::borrow::Cow::Owned(fused_core::package::package_from_code("u", "x").unwrap()),
        udf_hash: "ab".repeat(32),
        parameters: serde_json::Map::from_iter([("n".to_string(), "3".into())]),
        tile: Some(TileXyz { x: 1, y: 2, z: 3 }),
        result_dir: "/tmp/r".into(),
        inline_limit: 1024,
        run_key: Some("cd".repeat(32)),
    };
    let sent = req.clone();
    let w = tokio::spawn(async move {
        write_json(&mut a, &sent).await.unwrap();
        write_frame(&mut a, b"payload").await.unwrap();
    });
    let got: Request = read_json(&mut b).await.unwrap();
    assert_eq!(got.task_id, "t-1");
    assert_eq!(got.udf.code, "x");
    assert_eq!(got.udf_hash, "ab".repeat(32));
    assert_eq!(got.tile, Some(TileXyz { x: 1, y: 2, z: 3 }));
    assert_eq!(got.parameters["n"], "3");
    assert_eq!(read_frame(&mut b).await.unwrap(), b"payload");
    w.await.unwrap();
    assert!(matches!(read_frame(&mut b).await, Err(FrameError::Eof)));
}

#[tokio::test]
async fn header_and_hello_shapes() {
    let h: Hello =
        serde_json::from_str(r#"{"ready": true, "pid": 12, "python": "3.11.2"}"#).unwrap();
    assert!(h.ready);
    let r: ResponseHeader = serde_json::from_str(
        r#"{"task_id":"a","ok":true,"kind":"raster","dtype":"|u1","shape":[2,2],
            "bounds":[0,0,1,1],"payload":{"file":"/d/tmp/a.bin"},"stdout":"hi","stderr":""}"#,
    )
    .unwrap();
    assert_eq!(r.payload, Some(Payload::File("/d/tmp/a.bin".into())));
    assert_eq!(r.shape, Some(vec![2, 2]));
    assert_eq!(r.bounds, Some([0.0, 0.0, 1.0, 1.0]));
}

#[tokio::test]
async fn refuses_oversized_and_truncated_frames() {
    let len = (MAX_FRAME + 1).to_le_bytes();
    assert!(matches!(
        read_frame(&mut &len[..]).await,
        Err(FrameError::TooLarge(_))
    ));
    let short = [5u8, 0, 0, 0, 1];
    assert!(matches!(
        read_frame(&mut &short[..]).await,
        Err(FrameError::Io(_))
    ));
    let garbage = [2u8, 0, 0, 0, b'{', b'x'];
    assert!(matches!(
        read_json::<_, Hello>(&mut &garbage[..]).await,
        Err(FrameError::Json(_))
    ));
}
