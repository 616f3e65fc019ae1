"""DCGAN (Radford, Metz and Chintala 2015) on Fashion-MNIST, MNIST and CIFAR-10."""
