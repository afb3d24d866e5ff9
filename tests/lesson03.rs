use course_lib::data::load_fashion_mnist_sample;
use course_lib::embedding::{QualityTable, TsneConfig, tsne, tsne_exact};
use course_lib::linalg::Pca;
use course_lib::plot::scatter_thumbnails;
use course_lib::stacked_ae::{self, StackedAeConfig};
use course_lib::train::Data;
use course_lib::training_device;

/// The lesson's pipeline on the committed sample: a seeded stacked encoder trained briefly, its
/// codings of the 300 validation images, t-SNE and the quality table.
#[test]
fn tsne_of_sample_codings_and_its_quality_table() {
    let fashion = load_fashion_mnist_sample().unwrap();
    let mut ae = StackedAeConfig::new().init(&training_device()).unwrap();
    ae.fit(Data::autoencoder(&fashion.train.x), None, &stacked_ae::fit_config().with_epochs(3).with_verbose(false)).unwrap();
    let codings = ae.codings(&fashion.valid.x).unwrap();
    let config = TsneConfig::new().with_iterations(500);
    let embedded = tsne(&codings, &config).unwrap();
    let exact = tsne_exact(&codings, &config).unwrap();
    let pca = Pca::fit(&codings, 2).unwrap().transform(&codings).unwrap();
    let mut table = QualityTable { k: 5, rows: Vec::new() };
    table.add("PCA of the codings", &fashion.valid.x, &pca, &fashion.valid.y, 0.0).unwrap();
    table.add("Barnes-Hut t-SNE of the codings", &fashion.valid.x, &embedded.points, &fashion.valid.y, 0.0).unwrap();
    table.add("exact t-SNE of the codings", &fashion.valid.x, &exact.points, &fashion.valid.y, 0.0).unwrap();
    let report: Vec<String> = table
        .rows
        .iter()
        .map(|r| format!("{}: trustworthiness {:.3}, 5-NN accuracy {:.3}", r.name, r.trustworthiness, r.knn_accuracy))
        .chain([format!("KL divergence: Barnes-Hut {:.2}, exact {:.2}", embedded.kl_divergence, exact.kl_divergence)])
        .collect();
    insta::assert_snapshot!(report.join("\n"));
    // The claim the lesson makes, checked: t-SNE keeps neighbourhoods better than PCA.
    assert!(table.rows[1].trustworthiness > table.rows[0].trustworthiness);
    let figure = scatter_thumbnails(&embedded.points, &fashion.valid.y, &fashion.valid.x, "sample").unwrap();
    insta::assert_binary_snapshot!("tsne_thumbnails.svg", figure.bytes().to_vec());
}
