use course_lib::data::{Matrix, load_fashion_mnist_sample, toy_3d_data};
use course_lib::plot::{plot_images, plot_toy_3d, reconstruction_grid, scatter_classes};
use course_lib::linalg::Pca;

#[test]
fn image_grid_of_the_first_validation_images() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let figure = plot_images(&fashion.valid.x, 10, 5).unwrap();
    insta::assert_binary_snapshot!("valid_images.png", figure.bytes().to_vec());
}

#[test]
fn originals_over_reconstructions() {
    // A "reconstruction" that inverts the images, so both rows are visibly different.
    let fashion = load_fashion_mnist_sample().unwrap();
    let originals = fashion.valid.x.head(5);
    let inverted = Matrix::new(5, 784, originals.data().iter().map(|p| 1.0 - p).collect()).unwrap();
    let figure = reconstruction_grid(&originals, &inverted, 5).unwrap();
    insta::assert_binary_snapshot!("reconstructions.png", figure.bytes().to_vec());
}

#[test]
fn toy_data_in_3d() {
    let figure = plot_toy_3d(&toy_3d_data(4), "3-D toy data").unwrap();
    insta::assert_binary_snapshot!("toy_3d.svg", figure.bytes().to_vec());
}

#[test]
fn class_scatter_of_pca_projected_pixels() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let points = Pca::fit(&fashion.valid.x, 2).unwrap().transform(&fashion.valid.x).unwrap();
    let figure = scatter_classes(&points, &fashion.valid.y, "Validation images, PCA of the pixels").unwrap();
    insta::assert_binary_snapshot!("scatter_classes.svg", figure.bytes().to_vec());
}

#[test]
fn the_slides_network_diagrams() {
    use course_lib::diagram::{autoencoder_diagram, gan_diagram, greedy_diagram, vae_diagram};
    insta::assert_binary_snapshot!("diagram_autoencoder.svg", autoencoder_diagram(&[3, 2, 3]).unwrap().bytes().to_vec());
    insta::assert_binary_snapshot!("diagram_stacked.svg", autoencoder_diagram(&[784, 100, 30, 100, 784]).unwrap().bytes().to_vec());
    insta::assert_binary_snapshot!("diagram_greedy.svg", greedy_diagram(&[784, 100, 30]).unwrap().bytes().to_vec());
    insta::assert_binary_snapshot!("diagram_vae.svg", vae_diagram(784, &[150, 100], 10).unwrap().bytes().to_vec());
    insta::assert_binary_snapshot!("diagram_gan.svg", gan_diagram(30, &[100, 150], 784, &[150, 100]).unwrap().bytes().to_vec());
}

#[test]
fn a_model_diagram_draws_every_layer_of_the_summary() {
    use course_lib::prelude::*;
    let conv = ConvAeConfig::new().init(&training_device()).unwrap();
    let summary = conv.summary();
    let figure = model_diagram(&summary).unwrap();
    let Figure::Svg { text, .. } = &figure else { panic!("a diagram is an SVG") };
    assert_eq!(text.matches("<rect x=").count(), summary.rows.len(), "one box per layer");
    assert!(text.contains(">14×14×16<") || text.contains(">16×14×14<"), "the first pooling's output shape is written in its box");
    insta::assert_binary_snapshot!("diagram_conv_ae.svg", figure.bytes().to_vec());
}
