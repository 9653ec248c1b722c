//! Properties every filter must have, on random images.

use image_core::{Image, Op, parse_ops};
use proptest::prelude::*;

fn image() -> impl Strategy<Value = Image> {
    (1u32..24, 1u32..24).prop_flat_map(|(w, h)| {
        proptest::collection::vec(any::<u8>(), (w * h * 4) as usize)
            .prop_map(move |pixels| Image::new(w, h, pixels).expect("the right length"))
    })
}

fn alpha(image: &Image) -> Vec<u8> {
    image.pixels().chunks(4).map(|p| p[3]).collect()
}

proptest! {
    #[test]
    fn grayscale_is_idempotent(image in image()) {
        let once = Op::Grayscale.apply(&image).unwrap();
        prop_assert_eq!(Op::Grayscale.apply(&once).unwrap(), once);
    }

    #[test]
    fn resizing_to_the_same_size_is_the_identity(image in image()) {
        for sampling in ["bilinear", "nearest"] {
            let op = format!("resize:{}x{}:{sampling}", image.width(), image.height());
            prop_assert_eq!(image.apply_all(&parse_ops(&op).unwrap()).unwrap(), image.clone());
        }
    }

    #[test]
    fn blur_keeps_a_constant_image_constant(
        (w, h) in (1u32..20, 1u32..20),
        pixel in any::<[u8; 4]>(),
        sigma in 0.1f64..8.0,
    ) {
        let image = Image::from_fn(w, h, |_, _| pixel);
        prop_assert_eq!(Op::Blur { sigma }.apply(&image).unwrap(), image);
    }

    #[test]
    fn four_quarter_turns_and_two_flips_are_the_identity(image in image()) {
        let turned = image.apply_all(&parse_ops("rotate:90,rotate:90,rotate:90,rotate:90").unwrap()).unwrap();
        prop_assert_eq!(&turned, &image);
        let flipped = image.apply_all(&parse_ops("flip:h,flip:h,flip:v,flip:v").unwrap()).unwrap();
        prop_assert_eq!(&flipped, &image);
        let half = image.apply_all(&parse_ops("rotate:180").unwrap()).unwrap();
        let both = image.apply_all(&parse_ops("flip:h,flip:v").unwrap()).unwrap();
        prop_assert_eq!(half, both);
    }

    #[test]
    fn colour_operations_keep_alpha(image in image(), delta in -255i32..=255, factor in 0.0f64..10.0) {
        for op in [Op::Grayscale, Op::Sepia, Op::Brightness { delta }, Op::Contrast { factor }, Op::Blur { sigma: 1.5 }] {
            prop_assert_eq!(alpha(&op.apply(&image).unwrap()), alpha(&image));
        }
    }

    #[test]
    fn brightness_zero_and_contrast_one_change_nothing(image in image()) {
        prop_assert_eq!(&Op::Brightness { delta: 0 }.apply(&image).unwrap(), &image);
        prop_assert_eq!(Op::Contrast { factor: 1.0 }.apply(&image).unwrap(), image);
    }
}
