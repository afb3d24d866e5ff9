use course_lib::data::{load_fashion_mnist_sample, toy_3d_data};
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
    let mut inverted = originals.clone();
    inverted.data.iter_mut().for_each(|p| *p = 1.0 - *p);
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
